// `cocoon-worker`: run a worker, check a machine (doctor), or ask a running worker how it does (status).
import type { Config } from '@cocoon/shared';
import { loadProcessConfigOrExit } from '@cocoon/shared/config-file';
import { createLogger } from '@cocoon/shared/log';
import { Command } from 'commander';
import { formatChecks, runDoctor } from './doctor.js';
import { startWorker, type WorkerStatusReport } from './runtime.js';

function config(overrides: Record<string, string | undefined>): Config {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return loadProcessConfigOrExit({ ...process.env, ...given });
}

interface RunFlags {
  model?: string[];
  gpu?: string;
  payout?: string;
  proxy?: string;
  attestation?: string;
}

const program = new Command('cocoon-worker')
  .description('Serve llama.cpp models on the Cocoon network from a TDX machine and earn TON for every job.')
  .showHelpAfterError();

program
  .command('run', { isDefault: true })
  .description('start serving (settings from the environment, cocoon.env, or these flags)')
  .option('-m, --model <source...>', 'GGUF path or hf: URI, optionally =<price coefficient> (COCOON_MODEL)')
  .option('--gpu <backend>', 'auto | cpu | cuda | vulkan (WORKER_GPU)')
  .option('--payout <address>', 'TON address for earnings (WORKER_PAYOUT_ADDRESS)')
  .option('--proxy <url>', 'proxy to serve through (PROXY_URL)')
  .option('--attestation <kind>', 'tdx | dev (WORKER_ATTESTATION)')
  .action(async (flags: RunFlags) => {
    const settings = config({
      COCOON_MODEL: flags.model?.join(','),
      WORKER_GPU: flags.gpu,
      WORKER_PAYOUT_ADDRESS: flags.payout,
      PROXY_URL: flags.proxy,
      WORKER_ATTESTATION: flags.attestation,
    });
    const log = createLogger('worker', settings.LOG_LEVEL);
    const worker = await startWorker({ config: settings, log });
    const stop = async (signal: string) => {
      log.info({ signal }, 'draining: finishing running jobs, taking no new ones');
      await worker.stop();
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });

program
  .command('doctor')
  .description('check the TDX device, GPU, models, proxy and payout address, and say how to fix problems')
  .action(async () => {
    const checks = await runDoctor(config({}));
    console.log(formatChecks(checks));
    process.exitCode = checks.every((c) => c.ok) ? 0 : 1;
  });

program
  .command('status')
  .description('jobs served, tokens and earnings of the worker running on this machine')
  .action(async () => {
    const settings = config({});
    const url = `http://127.0.0.1:${settings.WORKER_STATUS_PORT}/status`;
    let report: WorkerStatusReport;
    try {
      report = (await (
        await fetch(url, { signal: AbortSignal.timeout(5_000) })
      ).json()) as WorkerStatusReport;
    } catch {
      console.error(`no worker answers at ${url}: is it running (cocoon-worker run)?`);
      process.exit(1);
    }
    const ton = (nanotons: string) => `${(Number(BigInt(nanotons)) / 1e9).toFixed(9)} TON`;
    console.log(
      [
        `state        ${report.state}${report.workerId ? ` (worker ${report.workerId})` : ''}${report.lastRejection ? `: ${report.lastRejection}` : ''}`,
        `proxy        ${report.proxy}`,
        `attestation  ${report.attestation.kind}${report.attestation.secure ? '' : ' (INSECURE)'}, keys valid until ${new Date(report.attestation.notAfter * 1000).toISOString()}`,
        `gpu          ${report.gpu}`,
        ...report.models.map(
          (m) =>
            `model        ${m.name} ${m.model.slice(0, 12)}… ${m.pricePerToken} nanoTON/token, ${m.activeJobs}/${m.parallelJobs} busy`,
        ),
        `jobs         ${report.jobsServed} served, ${report.jobsFailed} failed, ${report.jobsRefused} refused, ${report.activeJobs} running`,
        `tokens       ${report.promptTokens} prompt + ${report.completionTokens} completion`,
        `earned       ${ton(report.earnedNanotons)} (paid out by the proxy's settlements)`,
      ].join('\n'),
    );
  });

await program.parseAsync();
