import { beginCell, Cell, crc32c } from '@ton/core';
import { describe, expect, it } from 'vitest';
import { fromBase64, randomBytes, toBase64, toHex } from '../src/bytes.js';
import { jobCost } from '../src/pricing.js';
import {
  type Receipt,
  ReceiptError,
  receiptFromCell,
  receiptId,
  receiptToCell,
  signReceipt,
  verifyReceipt,
} from '../src/receipt.js';
import { readCanonicalReceiptBoc } from '../src/receipt-boc.js';
import { generateSigningKeyPair } from '../src/signing.js';

const worker = generateSigningKeyPair();
const hex32 = () => toHex(randomBytes(32));

function sampleReceipt(): Receipt {
  const usage = { promptTokens: 812, completionTokens: 164 };
  const pricePerToken = 20n;
  return {
    jobId: toHex(randomBytes(16)),
    client: hex32(),
    model: hex32(),
    ...usage,
    pricePerToken,
    amount: jobCost(usage, { pricePerToken, promptMultiplier: 10_000, completionMultiplier: 10_000 }),
    requestHash: hex32(),
    responseHash: hex32(),
    worker: toHex(worker.publicKey),
    time: 1_764_000_000,
  };
}

/** Every field with a different value of the same type, to show that no field escapes the signature. */
const changes: Record<keyof Receipt, (r: Receipt) => Receipt[keyof Receipt]> = {
  jobId: () => toHex(randomBytes(16)),
  client: hex32,
  model: hex32,
  promptTokens: (r) => r.promptTokens + 1,
  completionTokens: (r) => r.completionTokens - 1,
  pricePerToken: (r) => r.pricePerToken + 1n,
  amount: (r) => r.amount + 1n,
  requestHash: hex32,
  responseHash: hex32,
  worker: hex32,
  time: (r) => r.time + 1,
};

describe('receipts', () => {
  it('round-trips through a TON cell', () => {
    const receipt = sampleReceipt();
    expect(receiptFromCell(receiptToCell(receipt))).toEqual(receipt);
  });

  it('signs and verifies, and names the receipt by its cell hash', () => {
    const receipt = sampleReceipt();
    const signed = signReceipt(receipt, worker.secretKey);
    expect(verifyReceipt(signed, receipt.worker)).toEqual(receipt);
    const [cell] = Cell.fromBoc(Buffer.from(fromBase64(signed.boc)));
    expect(receiptId(receipt)).toBe(cell?.hash().toString('hex'));
  });

  it.each(Object.keys(changes) as (keyof Receipt)[])('fails when %s is changed after signing', (field) => {
    const receipt = sampleReceipt();
    const signed = signReceipt(receipt, worker.secretKey);
    const forged = { ...receipt, [field]: changes[field](receipt) } as Receipt;
    const tampered = { boc: toBase64(receiptToCell(forged).toBoc()), signature: signed.signature };
    expect(() => verifyReceipt(tampered)).toThrowError(ReceiptError);
  });

  it('refuses a receipt from another worker than the attested one', () => {
    const receipt = sampleReceipt();
    const signed = signReceipt(receipt, worker.secretKey);
    const other = toHex(generateSigningKeyPair().publicKey);
    expect(() => verifyReceipt(signed, other)).toThrowError(
      expect.objectContaining({ code: 'wrong_worker' }),
    );
  });

  it('refuses a signature made by a key other than the one the receipt names', () => {
    const receipt = sampleReceipt();
    const signed = signReceipt(receipt, generateSigningKeyPair().secretKey);
    expect(() => verifyReceipt(signed)).toThrowError(expect.objectContaining({ code: 'signature_invalid' }));
  });

  it('refuses malformed input with a clear error', () => {
    expect(() =>
      verifyReceipt({ boc: toBase64(new Uint8Array([1, 2, 3])), signature: toBase64(new Uint8Array(64)) }),
    ).toThrowError(expect.objectContaining({ code: 'malformed' }));
    expect(() => verifyReceipt({ boc: 'not base64!', signature: '' })).toThrowError(/base64/);
  });

  it('reads the BOC a worker signs straight from its bytes, to the receipt and id @ton/core gives', () => {
    const receipt = sampleReceipt();
    const signed = signReceipt(receipt, worker.secretKey);
    const direct = readCanonicalReceiptBoc(fromBase64(signed.boc));
    expect(direct?.receipt).toEqual(receipt);
    expect(toHex(direct?.hash ?? new Uint8Array())).toBe(receiptId(receipt));
  });

  it('refuses encodings of the signed cell that the TON node refuses and @ton/core reads past', () => {
    const receipt = sampleReceipt();
    const cell = receiptToCell(receipt);
    const signed = signReceipt(receipt, worker.secretKey);
    /** The worker's BOC with byte `at` changed, and its CRC32C rewritten unless the change drops it. */
    const changed = (at: number, change: (byte: number) => number, rewriteCrc = true) => {
      const boc = Uint8Array.from(cell.toBoc());
      boc[at] = change(boc[at] as number);
      if (rewriteCrc) boc.set(crc32c(Buffer.from(boc.subarray(0, boc.length - 4))), boc.length - 4);
      return boc;
    };
    // Four spare bytes after the last cell, counted in the cells' total size (byte 9).
    const padded = new Uint8Array(cell.toBoc({ crc32: false }).length + 4);
    padded.set(cell.toBoc({ crc32: false }));
    padded[9] = (padded[9] as number) + 4;
    const cases: [Uint8Array, RegExp][] = [
      // A cleared CRC flag leaves the CRC behind as 4 trailing bytes.
      [changed(4, (flags) => flags & ~0x40, false), /header describes/],
      [changed(4, (flags) => flags | 0x08), /reserved BOC flags/],
      [changed(4, (flags) => flags | 0x20), /cache bits without an index/],
      [changed(8, () => 1), /absent cells/],
      [padded, /do not fill/],
    ];
    for (const [boc, reason] of cases) {
      expect(Cell.fromBoc(Buffer.from(boc))[0]?.hash()).toEqual(cell.hash());
      expect(() => verifyReceipt({ ...signed, boc: toBase64(boc) })).toThrowError(
        expect.objectContaining({ code: 'malformed', message: expect.stringMatching(reason) }),
      );
    }
  });

  it('reads other valid layouts through @ton/core, and refuses what it refuses with the same errors', () => {
    const receipt = sampleReceipt();
    const cell = receiptToCell(receipt);
    const signed = signReceipt(receipt, worker.secretKey);
    const indexed = cell.toBoc({ idx: true });
    expect(readCanonicalReceiptBoc(indexed)).toBeUndefined();
    expect(verifyReceipt({ ...signed, boc: toBase64(indexed) })).toEqual(receipt);

    const corrupted = cell.toBoc();
    corrupted[20] = (corrupted[20] as number) ^ 1;
    expect(() => verifyReceipt({ ...signed, boc: toBase64(corrupted) })).toThrowError(
      expect.objectContaining({ code: 'malformed', message: expect.stringMatching(/CRC32C/) }),
    );

    const body = cell.beginParse().skip(32);
    const retagged = beginCell().storeUint(0x72637032, 32).storeSlice(body).endCell().toBoc();
    expect(readCanonicalReceiptBoc(retagged)).toBeUndefined();
    expect(() => verifyReceipt({ ...signed, boc: toBase64(retagged) })).toThrowError(
      expect.objectContaining({ code: 'malformed', message: expect.stringMatching(/unknown receipt tag/) }),
    );
  });
});
