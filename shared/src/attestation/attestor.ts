import type { AttestationBundle, AttestationKind, WorkerClaims } from './bundle.js';

/** Produces the evidence that binds a worker's fresh keys and models to what it runs. */
export interface Attestor {
  readonly kind: AttestationKind;
  /** `claims.models` must be sorted ascending (see `ModelList`). */
  attest(claims: WorkerClaims): Promise<AttestationBundle>;
}
