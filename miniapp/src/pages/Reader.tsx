import type { ReaderResponse } from '@cocoon/shared/protocol/app-api';
import { useCallback, useState } from 'react';
import type { Api } from '../api.js';
import { haptic, useMainButton } from '../telegram.js';
import { Section } from '../ui.js';

type ReaderState =
  | { step: 'idle' }
  | { step: 'reading' }
  | { step: 'done'; result: ReaderResponse }
  | { step: 'failed'; message: string };

export function Reader({ api }: { api: Api }) {
  const [url, setUrl] = useState('');
  const [state, setState] = useState<ReaderState>({ step: 'idle' });
  const valid = /^https?:\/\/\S+\.\S+/i.test(url.trim());
  const reading = state.step === 'reading';

  const read = useCallback(async () => {
    setState({ step: 'reading' });
    try {
      const result = await api.read(url.trim());
      haptic.success();
      setState({ step: 'done', result });
    } catch (error) {
      haptic.error();
      setState({ step: 'failed', message: error instanceof Error ? error.message : String(error) });
    }
  }, [api, url]);
  const native = useMainButton({
    text: 'Summarize',
    enabled: valid && !reading,
    loading: reading,
    onClick: read,
  });

  return (
    <>
      <Section>
        <label className="field">
          <span>Link</span>
          <input
            type="url"
            placeholder="https://…"
            value={url}
            onChange={(event) => setUrl(event.target.value)}
            data-testid="reader-url"
          />
        </label>
        {native ? null : (
          <button type="button" className="button" disabled={!valid || reading} onClick={read}>
            {reading ? 'Reading…' : 'Summarize'}
          </button>
        )}
        {state.step === 'failed' ? <p className="status error">{state.message}</p> : null}
      </Section>
      {state.step === 'done' ? (
        <>
          <Section title="Summary">
            <div className="summary" data-testid="summary">
              {state.result.summary}
            </div>
          </Section>
          <article className="article">
            <h1>{state.result.article.title}</h1>
            <p className="row-hint">
              {[state.result.article.siteName, state.result.article.byline].filter(Boolean).join(' · ')}{' '}
              <a href={state.result.article.url} target="_blank" rel="noreferrer">
                original
              </a>
            </p>
            {state.result.article.text.split(/\n{2,}/).map((paragraph, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: paragraphs have no identity but their order
              <p key={i}>{paragraph}</p>
            ))}
          </article>
        </>
      ) : null}
    </>
  );
}
