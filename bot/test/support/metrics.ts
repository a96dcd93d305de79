// Reads the Telegram side's counters the way Prometheus does: GET /metrics over loopback, text format.

/** One metric's samples from the text format, by their labels as written (`reason="rate_limited"`). */
export function samplesOf(text: string, name: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/);
    if (match?.[1] === name) samples.set(match[2] ?? '', Number(match[3]));
  }
  return samples;
}

export async function scrape(baseUrl: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseUrl}/metrics`, { headers, signal: AbortSignal.timeout(10_000) });
}

/** Scrapes an app's /metrics and tells what rose since the last look. */
export class MetricsProbe {
  private last = '';

  constructor(private readonly baseUrl: string) {}

  /** Takes the baseline. */
  async start(): Promise<this> {
    this.last = await this.text();
    return this;
  }

  /** How much each sample of `names` changed since the last look, leaving out those that did not. */
  async changes(...names: string[]): Promise<Record<string, number>> {
    const now = await this.text();
    const changed: Record<string, number> = {};
    for (const name of names) {
      const before = samplesOf(this.last, name);
      for (const [labels, value] of samplesOf(now, name)) {
        const delta = value - (before.get(labels) ?? 0);
        if (delta !== 0) changed[labels === '' ? name : `${name}{${labels}}`] = delta;
      }
    }
    this.last = now;
    return changed;
  }

  private async text(): Promise<string> {
    const response = await scrape(this.baseUrl);
    if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
    return response.text();
  }
}
