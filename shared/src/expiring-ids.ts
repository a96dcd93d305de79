/**
 * Ids remembered until they expire (job ids against replays). Expiries fall into buckets of `bucketMs`, and
 * pruning, at most once a bucket, drops whole buckets that have passed: it touches only ids that expired, so
 * it costs nothing noticeable with a million ids held (a scan of them all would stall the event loop).
 */
export class ExpiringIds {
  /** id → the bucket it expires in */
  readonly #buckets = new Map<string, number>();
  /** bucket → the ids added to it (an id deleted or added again since is skipped when it is pruned) */
  readonly #members = new Map<number, string[]>();
  #nextPruneMs = 0;

  constructor(private readonly bucketMs = 10_000) {}

  get size(): number {
    return this.#buckets.size;
  }

  has(id: string): boolean {
    return this.#buckets.has(id);
  }

  /** Remembers `id` at least until `expiresAtMs` (up to a bucket longer). */
  add(id: string, expiresAtMs: number, nowMs: number): void {
    const bucket = Math.ceil(expiresAtMs / this.bucketMs);
    this.#buckets.set(id, bucket);
    const members = this.#members.get(bucket);
    if (members === undefined) this.#members.set(bucket, [id]);
    else members.push(id);
    this.#prune(nowMs);
  }

  delete(id: string): void {
    this.#buckets.delete(id);
  }

  #prune(nowMs: number): void {
    if (nowMs < this.#nextPruneMs) return;
    this.#nextPruneMs = nowMs + this.bucketMs;
    const passed = Math.floor(nowMs / this.bucketMs);
    for (const [bucket, members] of this.#members) {
      if (bucket > passed) continue;
      for (const id of members) if (this.#buckets.get(id) === bucket) this.#buckets.delete(id);
      this.#members.delete(bucket);
    }
  }
}
