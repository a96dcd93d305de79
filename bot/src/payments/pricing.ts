import { MAX_INPUT_CHARS, maxSummaryTokens } from '../summarize/prompt.js';
import type { SummaryLength } from '../summarize/types.js';

/** Instructions and the chat template around the text, in tokens. */
const PROMPT_OVERHEAD_TOKENS = 200;
/** Tokenizers average about four characters a token in English and fewer in other scripts: stay on the safe side. */
const CHARS_PER_TOKEN = 3;

/**
 * What a summary of a text this long may cost at this price: the text (as much as the prompt keeps) and
 * the longest answer the length allows. The receipt's amount, debited afterwards, is usually less.
 */
export function estimateSummaryCost(
  textLength: number,
  length: SummaryLength,
  pricePerToken: bigint,
): bigint {
  const promptTokens =
    Math.ceil(Math.min(textLength, MAX_INPUT_CHARS) / CHARS_PER_TOKEN) + PROMPT_OVERHEAD_TOKENS;
  return BigInt(promptTokens + maxSummaryTokens(length)) * pricePerToken;
}

/** Stars that buy at least `nanotons` at the rate, never less than one. */
export function starsFor(nanotons: bigint, nanotonsPerStar: bigint): number {
  const stars = (nanotons + nanotonsPerStar - 1n) / nanotonsPerStar;
  return Number(stars < 1n ? 1n : stars);
}

const NANOTONS_PER_TON = 1_000_000_000n;

/** Nanotons as TON with up to nine decimals and no trailing zeros: 1500000n → "0.0015 TON". */
export function formatTon(nanotons: bigint): string {
  const sign = nanotons < 0n ? '−' : '';
  const magnitude = nanotons < 0n ? -nanotons : nanotons;
  const whole = magnitude / NANOTONS_PER_TON;
  const fraction = (magnitude % NANOTONS_PER_TON).toString().padStart(9, '0').replace(/0+$/, '');
  return `${sign}${whole}${fraction === '' ? '' : `.${fraction}`} TON`;
}
