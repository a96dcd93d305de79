// What clients and proxies trust comes from the Root contract: worker image and model allowlists, prices.
import type { AttestationPolicy, TcbStatus } from '@cocoon/shared';
import type { OpenedContract } from '@ton/core';
import type { RootContract } from '../wrappers/Root.js';

const hex256 = (value: bigint): string => value.toString(16).padStart(64, '0');

export interface RootPolicyOptions {
  /** Dev attestation is a local choice, never the Root's: only local networks allow it. */
  allowDev: boolean;
  acceptedTcbStatuses?: TcbStatus[];
}

/** Reads the attestation policy from the Root contract's getters (a fresh read on every call). */
export function rootPolicySource(root: OpenedContract<RootContract>, options: RootPolicyOptions) {
  return {
    read: async (): Promise<AttestationPolicy> => {
      const lists = await root.getLists();
      return {
        allowDev: options.allowDev,
        imageHashes: lists.workerImages.map(hex256),
        models: [...lists.models.keys()].map(hex256),
        acceptedTcbStatuses: options.acceptedTcbStatuses ?? ['UpToDate'],
      };
    },
  };
}
