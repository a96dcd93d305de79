import type { AttestationPolicy } from '@cocoon/shared/attestation/verify';
import type { HistoryJob } from '@cocoon/shared/protocol/app-api';
import { useEffect, useState } from 'react';
import type { Api } from '../api.js';
import { formatDate, formatTon, shortHex } from '../format.js';
import { Loaded, Mark, Row, Section } from '../ui.js';
import { useAsync } from '../use-async.js';
import { type Verdict, type VerifiedJob, verifyJob } from '../verify.js';

export function History({ api }: { api: Api }) {
  const [history, reload] = useAsync(() => api.history({ limit: 50 }), [api]);
  return (
    <Loaded state={history} retry={reload}>
      {({ jobs, policy }) =>
        jobs.length === 0 ? (
          <p className="placeholder">No jobs yet.</p>
        ) : (
          <Section
            title="Jobs"
            footer="Each receipt is checked in this app: the worker's signature, and that the key is the one its attestation binds."
          >
            {jobs.map((job) => (
              <JobRow key={job.jobId} job={job} policy={policy} />
            ))}
          </Section>
        )
      }
    </Loaded>
  );
}

const PAID_WITH: Record<HistoryJob['paidWith'], string> = {
  free: 'the free quota',
  ton: 'TON credit',
  stars: 'Stars credit',
  sponsor: "the channel's sponsor budget",
};

function sourceOf(job: HistoryJob): string {
  switch (job.source.kind) {
    case 'link':
      return job.source.title ?? job.source.url;
    case 'channel-post':
      return `Post ${job.source.messageId} in ${job.source.channelTitle ?? String(job.source.chatId)}`;
    case 'text':
      return 'Pasted text';
  }
}

function JobRow({ job, policy }: { job: HistoryJob; policy: AttestationPolicy }) {
  const [verdict, setVerdict] = useState<Verdict<VerifiedJob> | undefined>();
  useEffect(() => {
    let current = true;
    verifyJob(job, policy).then((result) => current && setVerdict(result));
    return () => {
      current = false;
    };
  }, [job, policy]);
  const label = verdict === undefined ? 'checking' : verdict.ok ? 'receipt verified' : 'receipt invalid';
  return (
    <details
      className="job"
      data-testid="job"
      data-job-id={job.jobId}
      data-verdict={verdict === undefined ? 'pending' : verdict.ok ? 'ok' : 'bad'}
    >
      <summary className="row">
        <span className="row-main">
          <span className="row-label">{sourceOf(job)}</span>
          <span className="row-hint">
            {formatDate(job.createdAt)} · {job.promptTokens + job.completionTokens} tokens ·{' '}
            {job.paidWith === 'free' ? 'free' : formatTon(job.cost, 6)}
          </span>
        </span>
        <span className="row-value">
          {verdict === undefined ? <span className="mark">…</span> : <Mark ok={verdict.ok} label={label} />}
        </span>
      </summary>
      <div className="details">
        {verdict !== undefined && !verdict.ok ? <p className="error">{verdict.reason}</p> : null}
        {verdict?.ok === true ? (
          <p className="ok-text">
            Signed by the worker's attested key ({verdict.value.attestation.secure ? 'TEE' : 'dev, insecure'}
            ).
          </p>
        ) : null}
        <Row label="Job" value={<code>{shortHex(job.jobId)}</code>} />
        <Row label="Worker" value={job.workerId} />
        <Row label="Tokens" value={`${job.promptTokens} in · ${job.completionTokens} out`} />
        <Row label="Cost" value={formatTon(job.cost)} hint={`paid from ${PAID_WITH[job.paidWith]}`} />
        {verdict?.ok === true ? (
          <>
            <Row label="Price per token" value={formatTon(verdict.value.receipt.pricePerToken)} />
            <Row label="Model" value={<code>{shortHex(verdict.value.receipt.model)}</code>} />
            <Row label="Request hash" value={<code>{shortHex(verdict.value.receipt.requestHash)}</code>} />
            <Row label="Response hash" value={<code>{shortHex(verdict.value.receipt.responseHash)}</code>} />
            <Row label="Worker key" value={<code>{shortHex(verdict.value.receipt.worker)}</code>} />
          </>
        ) : null}
        <Row
          label="Settlement"
          value={
            job.settlement === undefined ? 'not settled yet' : <code>{shortHex(job.settlement.hash)}</code>
          }
          {...(job.settlement === undefined ? {} : { hint: `lt ${job.settlement.lt}` })}
        />
      </div>
    </details>
  );
}
