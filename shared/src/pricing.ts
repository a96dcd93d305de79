import { z } from 'zod';
import { Nanotons, TokenCount } from './protocol/primitives.js';

/** Multipliers are basis points of ten thousand (10000 = 1×), as in the Root contract's parameters. */
export const MULTIPLIER_ONE = 10_000n;

export const PriceSchedule = z.object({
  /** Nanotons per token before multipliers (the Root's base price times the model's coefficient). */
  pricePerToken: Nanotons,
  promptMultiplier: z.number().int().nonnegative().default(10_000),
  completionMultiplier: z.number().int().nonnegative().default(10_000),
});
export type PriceSchedule = z.output<typeof PriceSchedule>;

export const Usage = z.object({ promptTokens: TokenCount, completionTokens: TokenCount });
export type Usage = z.output<typeof Usage>;

/** The amount a job costs, in nanotons, rounded down: every party computes it the same way from the receipt. */
export function jobCost(usage: Usage, schedule: PriceSchedule): bigint {
  const weighted =
    BigInt(usage.promptTokens) * BigInt(schedule.promptMultiplier) +
    BigInt(usage.completionTokens) * BigInt(schedule.completionMultiplier);
  return (weighted * schedule.pricePerToken) / MULTIPLIER_ONE;
}

/** The most a job can cost: every prompt token it was sent and every completion token it may produce. */
export function maxJobCost(promptTokens: number, maxTokens: number, schedule: PriceSchedule): bigint {
  return jobCost({ promptTokens, completionTokens: maxTokens }, schedule);
}

/** What a job is billed: its cost, capped by the job's max cost (a worker that overruns bears the rest). */
export function billedAmount(usage: Usage, schedule: PriceSchedule, maxCost: bigint): bigint {
  const cost = jobCost(usage, schedule);
  return cost < maxCost ? cost : maxCost;
}

/** What a schedule asks for its dearer kind of token, in nanotons, rounded up: what a price ceiling compares. */
export function highestTokenPrice(schedule: PriceSchedule): bigint {
  const multiplier = BigInt(Math.max(schedule.promptMultiplier, schedule.completionMultiplier));
  return (schedule.pricePerToken * multiplier + MULTIPLIER_ONE - 1n) / MULTIPLIER_ONE;
}

/** The larger of two amounts (Math.max takes no bigints). */
export const maxAmount = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/** The smaller of two amounts. */
export const minAmount = (a: bigint, b: bigint): bigint => (a < b ? a : b);
