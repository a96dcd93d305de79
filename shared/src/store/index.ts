// Node-only by nature: the SQL store (PGlite data folder on disk, or a Postgres server). Import it from
// Node roles only; it is not part of the browser-safe main entry of @cocoon/shared.
export { StoreError, type StoreErrorCode } from './errors.js';
export type { Migration, MigrationSet } from './migrate.js';
export { keepWasmAtBaselineTier } from './pglite-open.js';
export { openStore, type Store, type StoreKind, type StoreOptions } from './store.js';
export {
  type IsolationLevel,
  insertIfAbsent,
  type TransactionOptions,
  withTransaction,
} from './transactions.js';
