import { toBase64, toHex } from '../bytes.js';
import { PROTOCOL_VERSION } from '../protocol/primitives.js';
import { generateSigningKeyPair, signBytes } from '../signing.js';
import type { Attestor } from './attestor.js';
import { AttestationBundle, type WorkerClaims } from './bundle.js';
import { workerReportData } from './reportdata.js';

/**
 * No TEE: signs the claims with an Ed25519 key held in memory only. The bundle proves the claims were not
 * altered after signing, nothing about the machine; verifiers refuse it unless their policy sets `allowDev`.
 */
export class DevAttestor implements Attestor {
  readonly kind = 'dev' as const;
  /** Hex of the dev key, for logs and `doctor`: it changes on every start unless a seed is given. */
  readonly devPublicKey: string;
  readonly #secretKey: Uint8Array;

  constructor(seed?: Uint8Array) {
    const { secretKey, publicKey } = generateSigningKeyPair(seed);
    this.#secretKey = secretKey;
    this.devPublicKey = toHex(publicKey);
  }

  async attest(claims: WorkerClaims): Promise<AttestationBundle> {
    const signature = signBytes(workerReportData(claims), this.#secretKey);
    return AttestationBundle.parse({
      v: PROTOCOL_VERSION,
      kind: 'dev',
      hpkePublicKey: claims.hpkePublicKey,
      signPublicKey: claims.signPublicKey,
      models: claims.models,
      notAfter: claims.notAfter,
      evidence: { devPublicKey: this.devPublicKey, signature: toBase64(signature) },
    });
  }
}
