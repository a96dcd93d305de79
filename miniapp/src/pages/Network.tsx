import type { NetworkResponse } from '@cocoon/shared/protocol/app-api';
import { useEffect, useState } from 'react';
import type { Api } from '../api.js';
import { formatDate, formatTon, shortHex } from '../format.js';
import { Loaded, Mark, Row, Section } from '../ui.js';
import { useAsync } from '../use-async.js';
import { verifyWorker, type WorkerCheck } from '../verify.js';

export function Network({ api }: { api: Api }) {
  const [network, reload] = useAsync(() => api.network(), [api]);
  return (
    <Loaded state={network} retry={reload}>
      {(value) => <NetworkView network={value} />}
    </Loaded>
  );
}

function NetworkView({ network }: { network: NetworkResponse }) {
  const [checks, setChecks] = useState<Map<string, WorkerCheck>>(new Map());
  useEffect(() => {
    let current = true;
    const now = Math.floor(Date.now() / 1000);
    Promise.all(
      network.workers.map((worker) =>
        verifyWorker(worker, network.policy, now, network.collateral[worker.workerId]),
      ),
    ).then((results) => current && setChecks(new Map(results.map((check) => [check.workerId, check]))));
    return () => {
      current = false;
    };
  }, [network]);
  return (
    <>
      <Section title={`Models (${network.models.length})`}>
        {network.models.length === 0 ? <p className="placeholder">No models online.</p> : null}
        {network.models.map((model) => (
          <Row
            key={model.model}
            label={model.name}
            hint={`${model.workers} worker${model.workers === 1 ? '' : 's'} · ${shortHex(model.model)}`}
            value={`from ${formatTon(model.minPricePerToken * 1000n, 6)} / 1K tokens`}
          />
        ))}
      </Section>
      <Section
        title={`Workers online (${network.workers.length})`}
        footer="Each attestation, and the prices each worker signed with its attested key, are verified in this app with the same policy the bot uses."
      >
        {network.workers.map((worker) => (
          <WorkerCard key={worker.workerId} worker={worker} check={checks.get(worker.workerId)} />
        ))}
      </Section>
    </>
  );
}

function WorkerCard({
  worker,
  check,
}: {
  worker: NetworkResponse['workers'][number];
  check: WorkerCheck | undefined;
}) {
  const verified = check?.verdict.ok === true ? check.verdict.value : undefined;
  const secure = verified?.secure === true;
  return (
    <div className="worker" data-testid="worker" data-worker-id={worker.workerId}>
      <div className="row">
        <span className="row-main">
          <span className="row-label">{worker.workerId}</span>
          <span className="row-hint">
            load {worker.load.activeJobs}/{worker.load.capacity}
          </span>
        </span>
        <span className="row-value badges">
          <span className="badge">{check?.kind ?? '…'}</span>
          {check === undefined ? null : (
            <span className={secure ? 'badge secure' : 'badge insecure'} data-testid="security">
              {secure ? 'secure' : 'insecure'}
            </span>
          )}
          {check === undefined ? null : (
            <Mark
              ok={check.verdict.ok}
              label={check.verdict.ok ? 'attestation verified' : 'attestation refused'}
            />
          )}
        </span>
      </div>
      <div className="details">
        {check !== undefined && !check.verdict.ok ? <p className="error">{check.verdict.reason}</p> : null}
        {verified?.kind === 'dev' ? (
          <p className="warning">Dev attestation: no TEE, the operator can read jobs. For testing only.</p>
        ) : null}
        {worker.models.map((offer) => (
          <Row
            key={offer.model}
            label={offer.name}
            hint={`context ${offer.contextSize.toLocaleString('en-US')} · prompt ×${offer.promptMultiplier / 10_000} · completion ×${offer.completionMultiplier / 10_000}`}
            value={`${formatTon(offer.pricePerToken * 1000n, 6)} / 1K`}
          />
        ))}
        {verified?.measurements === undefined ? null : (
          <>
            <Row label="MRTD" value={<code>{shortHex(verified.measurements.mrtd)}</code>} />
            {(['rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'] as const).map((register) => (
              <Row
                key={register}
                label={register.toUpperCase()}
                value={<code>{shortHex(verified.measurements?.[register] ?? '')}</code>}
              />
            ))}
            <Row label="Image hash" value={<code>{shortHex(verified.imageHash ?? '')}</code>} />
          </>
        )}
        {check?.collateral === undefined ? null : (
          <Row
            label="Intel collateral"
            value={check.collateral === 'app' ? 'fetched by the app' : "the worker's own"}
            hint={
              check.collateral === 'app'
                ? "from Intel's collateral service, not through the proxy"
                : 'came through the proxy; a newer TCB verdict may exist'
            }
          />
        )}
        {verified?.tcbStatus === undefined ? null : (
          <Row
            label="TCB status"
            value={verified.tcbStatus}
            {...(verified.advisoryIds?.length ? { hint: verified.advisoryIds.join(', ') } : {})}
          />
        )}
        {verified?.collateralValidUntil === undefined ? null : (
          <Row label="Collateral valid until" value={formatDate(verified.collateralValidUntil)} />
        )}
        {verified === undefined ? null : (
          <>
            <Row label="Receipt key" value={<code>{shortHex(verified.signPublicKey)}</code>} />
            <Row label="Keys valid until" value={formatDate(verified.notAfter)} />
          </>
        )}
      </div>
    </div>
  );
}
