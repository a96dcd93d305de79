// `cocoon-worker doctor`: checks what a worker needs and says how to fix what is wrong.
import { open } from 'node:fs/promises';
import type { Config } from '@cocoon/shared';
import { tdxAvailable } from '@cocoon/shared/attestation/tdx';
import { loadLlama } from './engine/llama-engine.js';
import { isRemoteModelSource } from './models/resolve-model.js';
import { checkPayoutAddress, DEFAULT_MODEL, parseModelSources } from './runtime.js';

export interface Check {
  name: string;
  ok: boolean;
  /** A warning does not fail the doctor (e.g. dev attestation on a local network). */
  warning?: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorOptions {
  /** Where configfs-tsm lives (tests point it at a folder). */
  tsmReportRoot?: string;
  fetch?: typeof fetch;
}

export async function runDoctor(config: Config, options: DoctorOptions = {}): Promise<Check[]> {
  return [
    await checkTdx(config, options),
    await checkGpu(config),
    ...(await checkModels(config)),
    await checkProxy(config, options.fetch ?? fetch),
    checkPayout(config),
  ];
}

async function checkTdx(config: Config, options: DoctorOptions): Promise<Check> {
  const tdx = await tdxAvailable(
    options.tsmReportRoot === undefined ? {} : { reportRoot: options.tsmReportRoot },
  );
  if (tdx.available) return { name: 'TDX', ok: true, detail: tdx.detail };
  if (config.WORKER_ATTESTATION === 'dev') {
    return {
      name: 'TDX',
      ok: true,
      warning: true,
      detail: `not available (${tdx.detail}); running with INSECURE dev attestation`,
      fix: 'run inside an Intel TDX guest with Linux 6.7+ and set WORKER_ATTESTATION=tdx to earn from real clients',
    };
  }
  return {
    name: 'TDX',
    ok: false,
    detail: tdx.detail,
    fix: 'run the worker inside an Intel TDX guest (Linux 6.7+, configfs mounted at /sys/kernel/config)',
  };
}

async function checkGpu(config: Config): Promise<Check> {
  try {
    const llama = await loadLlama(config.WORKER_GPU);
    const vram = await llama.getVramState();
    const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
    const detail =
      llama.gpu === false
        ? 'no GPU: llama.cpp runs on the CPU'
        : `${llama.gpu}, ${gib(vram.free)} free of ${gib(vram.total)}`;
    await llama.dispose();
    return {
      name: 'GPU',
      ok: true,
      warning: llama.gpu === false,
      detail,
      ...(llama.gpu === false
        ? { fix: 'install the CUDA or Vulkan drivers; WORKER_GPU=auto picks them up' }
        : {}),
    };
  } catch (error) {
    return {
      name: 'GPU',
      ok: false,
      detail: (error as Error).message,
      fix: 'set WORKER_GPU=auto, or install the drivers for the backend you asked for',
    };
  }
}

async function checkModels(config: Config): Promise<Check[]> {
  if (config.COCOON_MODEL === undefined) {
    return [
      {
        name: 'models',
        ok: true,
        warning: true,
        detail: `COCOON_MODEL is not set: the worker downloads ${DEFAULT_MODEL} (or falls back to the extractive engine)`,
        fix: 'set COCOON_MODEL to a GGUF path or an hf: URI',
      },
    ];
  }
  let sources: ReturnType<typeof parseModelSources>;
  try {
    sources = parseModelSources(config.COCOON_MODEL);
  } catch (error) {
    return [{ name: 'models', ok: false, detail: (error as Error).message }];
  }
  return Promise.all(
    sources.map(async ({ source }): Promise<Check> => {
      const name = `model ${source}`;
      if (isRemoteModelSource(source))
        return { name, ok: true, detail: 'downloaded into the data folder on first start (resumable)' };
      try {
        const file = await open(source, 'r');
        const magic = Buffer.alloc(4);
        await file.read(magic, 0, 4, 0);
        const { size } = await file.stat();
        await file.close();
        if (magic.toString('latin1') !== 'GGUF')
          return { name, ok: false, detail: 'not a GGUF file', fix: 'point COCOON_MODEL at a .gguf file' };
        return { name, ok: true, detail: `GGUF, ${(size / 2 ** 20).toFixed(1)} MiB` };
      } catch (error) {
        return {
          name,
          ok: false,
          detail: (error as Error).message,
          fix: 'check the path, or use an hf:<user>/<repo>/<file>.gguf URI',
        };
      }
    }),
  );
}

async function checkProxy(config: Config, fetchImpl: typeof fetch): Promise<Check> {
  const url = new URL('/healthz', config.PROXY_URL);
  try {
    const response = await fetchImpl(url, { signal: AbortSignal.timeout(5_000) });
    if (response.ok) return { name: 'proxy', ok: true, detail: `${config.PROXY_URL} answers` };
    return {
      name: 'proxy',
      ok: false,
      detail: `${url} answered HTTP ${response.status}`,
      fix: 'check PROXY_URL',
    };
  } catch (error) {
    return {
      name: 'proxy',
      ok: false,
      detail: `cannot reach ${url}: ${(error as Error).message}`,
      fix: 'check PROXY_URL and that outbound HTTPS/WebSocket traffic is allowed',
    };
  }
}

function checkPayout(config: Config): Check {
  try {
    return { name: 'payout address', ok: true, detail: checkPayoutAddress(config.WORKER_PAYOUT_ADDRESS) };
  } catch (error) {
    return {
      name: 'payout address',
      ok: false,
      detail: (error as Error).message,
      fix: 'set WORKER_PAYOUT_ADDRESS to your TON wallet address',
    };
  }
}

export function formatChecks(checks: Check[]): string {
  return checks
    .map(
      (c) =>
        `${c.ok ? (c.warning ? '!' : '✓') : '✗'} ${c.name}: ${c.detail}${c.fix && (!c.ok || c.warning) ? `\n    fix: ${c.fix}` : ''}`,
    )
    .join('\n');
}
