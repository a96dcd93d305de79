import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Address } from '@ton/core';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/bytes.js';
import {
  MemoryVoucherStore,
  rawAddress,
  VoucherError,
  type VoucherMessage,
  VoucherSigner,
  verifyVoucher,
} from '../../src/client/voucher.js';
import { FileVoucherStore } from '../../src/client/voucher-file.js';
import { JsonFileError } from '../../src/json-file.js';
import { SignedOp, verifyAmountSignature } from '../../src/settlement.js';
import { generateSigningKeyPair, signingPublicKey } from '../../src/signing.js';

const contract = `0:${'ab'.repeat(32)}`;
const owner = Address.parse(`0:${'cd'.repeat(32)}`).toString();

describe('VoucherSigner', () => {
  it('signs the running total of verified receipts for the client contract', async () => {
    const key = generateSigningKeyPair();
    const signer = new VoucherSigner(key.secretKey, owner, contract, new MemoryVoucherStore());
    const opening = await signer.latest();
    expect(opening).toMatchObject({ contract, owner: rawAddress(owner), total: 0n, queryId: 0n });
    await signer.add(120n);
    const voucher = await signer.add(30n);
    expect(voucher).toMatchObject({ total: 150n, queryId: 2n });
    const client = toHex(key.publicKey);
    expect(verifyVoucher(voucher, client)).toBe(true);
    // the same bytes the Client contract checks: op charge, query id, total, its own address
    expect(
      verifyAmountSignature(
        { op: SignedOp.charge, queryId: 2n, total: 150n, target: Address.parse(contract) },
        fromHex(voucher.signature),
        key.publicKey,
      ),
    ).toBe(true);
    expect(verifyVoucher({ ...voucher, total: 151n }, client)).toBe(false);
    expect(verifyVoucher({ ...voucher, contract: `0:${'ef'.repeat(32)}` }, client)).toBe(false);
    // a zero-amount receipt signs nothing new
    expect(await signer.add(0n)).toEqual(voucher);
  });

  it('continues from the stored total after a restart, and adds concurrent receipts', async () => {
    const key = generateSigningKeyPair();
    const store = new MemoryVoucherStore();
    await new VoucherSigner(key.secretKey, owner, contract, store).add(500n);
    const restarted = new VoucherSigner(key.secretKey, owner, contract, store);
    const results = await Promise.all([1n, 2n, 3n, 4n].map((amount) => restarted.add(amount)));
    expect(results.map((r) => r.total)).toEqual([501n, 503n, 506n, 510n]);
    expect((await store.load())?.total).toBe(510n);
    expect(
      verifyVoucher((await restarted.latest()) as VoucherMessage, toHex(signingPublicKey(key.secretKey))),
    ).toBe(true);
  });

  it('refuses a store that holds totals for another contract', async () => {
    const key = generateSigningKeyPair();
    const store = new MemoryVoucherStore();
    await new VoucherSigner(key.secretKey, owner, `0:${'01'.repeat(32)}`, store).add(5n);
    await expect(new VoucherSigner(key.secretKey, owner, contract, store).add(1n)).rejects.toBeInstanceOf(
      VoucherError,
    );
  });
});

describe('FileVoucherStore', () => {
  it('keeps the latest total across instances and refuses a damaged file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cocoon-voucher-'));
    try {
      const path = join(dir, 'sub', 'voucher.json');
      const key = generateSigningKeyPair();
      const store = new FileVoucherStore(path);
      expect(await store.load()).toBeUndefined();
      await new VoucherSigner(key.secretKey, owner, contract, store).add(2n ** 70n);
      const again = new VoucherSigner(key.secretKey, owner, contract, new FileVoucherStore(path));
      expect((await again.add(1n)).total).toBe(2n ** 70n + 1n);
      await writeFile(path, '{"contract":"0:zz"}');
      await expect(new FileVoucherStore(path).load()).rejects.toBeInstanceOf(JsonFileError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
