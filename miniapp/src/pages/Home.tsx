import type { Api } from '../api.js';
import { formatDate, formatTon } from '../format.js';
import { haptic } from '../telegram.js';
import { Loaded, Row, Section } from '../ui.js';
import { useAsync } from '../use-async.js';
import type { Page } from './pages.js';

const MENU: { page: Page; title: string; hint: string }[] = [
  { page: 'topup', title: 'Top up', hint: 'TON through your wallet, or Telegram Stars' },
  { page: 'history', title: 'History', hint: 'Every job with its receipt, verified here' },
  { page: 'reader', title: 'Reader', hint: 'Paste a link, get the summary first' },
  { page: 'channels', title: 'Channels', hint: 'Summaries in the channels you run' },
  { page: 'network', title: 'Network', hint: 'Workers, models, prices and attestations' },
];

export function Home({ api, open }: { api: Api; open: (page: Page) => void }) {
  const [me, reloadMe] = useAsync(() => api.me(), [api]);
  const [recent, reloadRecent] = useAsync(() => api.history({ limit: 3 }), [api]);
  return (
    <>
      <Loaded state={me} retry={reloadMe}>
        {({ user, balance, freeQuota }) => (
          <Section title={`Hi, ${user.firstName}`}>
            <div className="balance" data-testid="balance">
              <div className="balance-main">{formatTon(balance.ton, 4)}</div>
              <div className="balance-sub">{balance.stars.toLocaleString('en-US')} ⭐ Stars credit</div>
            </div>
            <Row
              label="Free summaries left"
              value={`${freeQuota.left} of ${freeQuota.limit}`}
              hint={`renews ${formatDate(freeQuota.resetsAt)}`}
            />
          </Section>
        )}
      </Loaded>
      <Section>
        {MENU.map(({ page, title, hint }) => (
          <button
            type="button"
            key={page}
            className="cell"
            onClick={() => {
              haptic.tap();
              open(page);
            }}
          >
            <span className="row-main">
              <span className="row-label">{title}</span>
              <span className="row-hint">{hint}</span>
            </span>
            <span className="chevron" aria-hidden="true">
              ›
            </span>
          </button>
        ))}
      </Section>
      <Loaded state={recent} retry={reloadRecent}>
        {({ jobs }) => (
          <Section title="Recent summaries">
            {jobs.length === 0 ? (
              <p className="placeholder">No summaries yet.</p>
            ) : (
              jobs.map((job) => (
                <Row
                  key={job.jobId}
                  label={
                    job.source.kind === 'link'
                      ? (job.source.title ?? job.source.url)
                      : job.source.kind === 'channel-post'
                        ? `Post in ${job.source.channelTitle ?? 'a channel'}`
                        : 'Pasted text'
                  }
                  hint={formatDate(job.createdAt)}
                  value={job.paidWith === 'free' ? 'free' : formatTon(job.cost, 6)}
                />
              ))
            )}
          </Section>
        )}
      </Loaded>
    </>
  );
}
