/**
 * Why the store failed. Messages never include a database URL (it may hold a password).
 * - invalid_options: openStore or a migration set got malformed input.
 * - data_dir_locked: another live process holds the PGlite data folder.
 * - create_failed: the embedded database could not be created in its data folder.
 * - migration_failed: a migration threw; none of that run's migrations is applied (they share one transaction).
 * - unsupported: the backend cannot do what was asked (e.g. streaming on PGlite).
 */
export type StoreErrorCode =
  | 'invalid_options'
  | 'data_dir_locked'
  | 'create_failed'
  | 'migration_failed'
  | 'unsupported';

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
