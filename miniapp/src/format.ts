/** Display helpers: money stays a bigint of nanotons until it is printed. */
const NANO = 1_000_000_000n;

/** "2.5 TON"; `digits` caps the fraction (rounded down) so small prices stay readable. */
export function formatTon(nanotons: bigint, digits = 9): string {
  const negative = nanotons < 0n;
  const value = negative ? -nanotons : nanotons;
  const whole = value / NANO;
  const fraction = (value % NANO).toString().padStart(9, '0').slice(0, digits).replace(/0+$/, '');
  return `${negative ? '−' : ''}${whole.toLocaleString('en-US')}${fraction === '' ? '' : `.${fraction}`} TON`;
}

/** Parses a TON amount typed by a person ("1", "0.5", "1,25") into nanotons; undefined when it is not one. */
export function parseTon(text: string): bigint | undefined {
  const match = /^\s*(\d{1,12})(?:[.,](\d{1,9}))?\s*$/.exec(text);
  if (match === null) return undefined;
  const [, whole = '0', fraction = ''] = match;
  return BigInt(whole) * NANO + BigInt(fraction.padEnd(9, '0'));
}

export function formatDate(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toLocaleString('en-GB', {
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
}

/** "ab12…ef90" for long hex strings. */
export function shortHex(hex: string, keep = 6): string {
  return hex.length <= keep * 2 + 1 ? hex : `${hex.slice(0, keep)}…${hex.slice(-keep)}`;
}
