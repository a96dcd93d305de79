export interface Percentiles {
  p50: number;
  p99: number;
}

/** The median and 99th percentile of `values` (0 for none). */
export function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}
