import type { AppChannel, ChannelSettingsInput } from '@cocoon/shared/protocol/app-api';
import { useState } from 'react';
import type { Api } from '../api.js';
import { formatTon, parseTon } from '../format.js';
import { haptic } from '../telegram.js';
import { Loaded, Row, Section } from '../ui.js';
import { useAsync } from '../use-async.js';

export function Channels({ api }: { api: Api }) {
  const [channels, reload] = useAsync(() => api.channels(), [api]);
  return (
    <Loaded state={channels} retry={reload}>
      {({ channels: list }) =>
        list.length === 0 ? (
          <p className="placeholder">
            No channels yet. Add the bot as an administrator of a channel you run, and it appears here.
          </p>
        ) : (
          list.map((channel) => <ChannelEditor key={channel.chatId} api={api} channel={channel} />)
        )
      }
    </Loaded>
  );
}

function ChannelEditor({ api, channel }: { api: Api; channel: AppChannel }) {
  const [settings, setSettings] = useState<ChannelSettingsInput>(channel.settings);
  const [budgetText, setBudgetText] = useState(formatTon(channel.settings.sponsorBudget).replace(' TON', ''));
  const [status, setStatus] = useState<string | undefined>();
  const budget = parseTon(budgetText);
  const set = <K extends keyof ChannelSettingsInput>(key: K, value: ChannelSettingsInput[K]) =>
    setSettings((previous) => ({ ...previous, [key]: value }));

  const save = async () => {
    if (budget === undefined) return;
    try {
      const saved = await api.updateChannel(channel.chatId, { ...settings, sponsorBudget: budget });
      setSettings(saved.settings);
      haptic.success();
      setStatus('Saved.');
    } catch (error) {
      haptic.error();
      setStatus(error instanceof Error ? error.message : String(error));
    }
  };

  return (
    <Section
      title={channel.title}
      footer={
        channel.botCanEdit ? undefined : 'The bot needs the right to edit posts to add the summary button.'
      }
    >
      <label className="toggle">
        <span>Summary button under long posts</span>
        <input
          type="checkbox"
          checked={settings.enabled}
          onChange={(e) => set('enabled', e.target.checked)}
        />
      </label>
      <label className="field">
        <span>Shortest post, characters</span>
        <input
          inputMode="numeric"
          value={settings.minPostLength}
          onChange={(e) => set('minPostLength', Math.max(0, Number.parseInt(e.target.value, 10) || 0))}
        />
      </label>
      <label className="field">
        <span>Length</span>
        <select
          value={settings.length}
          onChange={(e) => set('length', e.target.value as ChannelSettingsInput['length'])}
        >
          <option value="short">Short</option>
          <option value="bullets">Bullets</option>
          <option value="detailed">Detailed</option>
        </select>
      </label>
      <label className="field">
        <span>Language</span>
        <select value={settings.language} onChange={(e) => set('language', e.target.value)}>
          <option value="auto">Same as the post</option>
          <option value="en">English</option>
          <option value="ru">Russian</option>
        </select>
      </label>
      <label className="toggle">
        <span>Post the summary as a comment</span>
        <input
          type="checkbox"
          checked={settings.postAsComment}
          onChange={(e) => set('postAsComment', e.target.checked)}
        />
      </label>
      <label className="field">
        <span>Who pays</span>
        <select
          value={settings.payer}
          onChange={(e) => set('payer', e.target.value as ChannelSettingsInput['payer'])}
        >
          <option value="reader">Each reader</option>
          <option value="sponsor">The channel (sponsor budget)</option>
        </select>
      </label>
      <label className="field">
        <span>Sponsor budget per month, TON</span>
        <input inputMode="decimal" value={budgetText} onChange={(e) => setBudgetText(e.target.value)} />
      </label>
      <Row label="Spent this month" value={formatTon(channel.sponsorSpent, 4)} />
      <button type="button" className="button" disabled={budget === undefined} onClick={save}>
        Save
      </button>
      {status === undefined ? null : <p className="status">{status}</p>}
    </Section>
  );
}
