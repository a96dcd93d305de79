/**
 * Group commit: items submitted in one turn of the event loop, or while a write is running, are written
 * together by the next write, so the store sees one statement per batch rather than per job (a statement's
 * fixed cost is far above a row's). Each caller hears back, with its own item's result, only once the
 * write holding its item has committed.
 */
export class GroupCommit<T, R> {
  readonly #pending: { item: T; resolve(result: R): void; reject(error: unknown): void }[] = [];
  #flushing = false;

  constructor(
    /** Writes a batch atomically; returns one result per item, in order. */
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly maxBatch: number,
  ) {}

  submit(item: T): Promise<R> {
    const done = new Promise<R>((resolve, reject) => this.#pending.push({ item, resolve, reject }));
    if (!this.#flushing) {
      this.#flushing = true;
      // After the rest of this turn's I/O, so that items arriving together share the first write too.
      setImmediate(() => void this.#flush());
    }
    return done;
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.maxBatch);
      try {
        const results = await this.write(batch.map((pending) => pending.item));
        for (const [i, pending] of batch.entries()) pending.resolve(results[i] as R);
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    this.#flushing = false;
  }
}
