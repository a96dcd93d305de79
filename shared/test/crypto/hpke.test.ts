import { readFileSync } from 'node:fs';
import { x25519 } from '@noble/curves/ed25519.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { concatBytes, fromHex, toHex, utf8 } from '../../src/bytes.js';
import { SealError } from '../../src/crypto/errors.js';
import {
  generateWorkerKeyPair,
  HPKE_SUITE,
  hpkeKeyId,
  hpkeOpen,
  hpkeSeal,
  hpkeSuite,
  type WorkerHpkeKeyPair,
} from '../../src/crypto/hpke.js';
import { createHpkeKdf } from '../../src/crypto/primitives-node.js';

const hex = z.string().regex(/^([0-9a-f]{2})*$/);
const Vector = z.object({
  mode: z.number(),
  kem_id: z.number(),
  kdf_id: z.number(),
  aead_id: z.number(),
  info: hex,
  ikmE: hex,
  pkEm: hex,
  skEm: hex,
  ikmR: hex,
  pkRm: hex,
  skRm: hex,
  enc: hex,
  shared_secret: hex,
  key_schedule_context: hex,
  secret: hex,
  key: hex,
  base_nonce: hex,
  exporter_secret: hex,
  encryptions: z.array(z.object({ seq: z.number(), pt: hex, aad: hex, nonce: hex, ct: hex })).min(1),
  exports: z.array(z.object({ exporter_context: hex, L: z.number(), exported_value: hex })).min(1),
});
const fixture = new URL('../fixtures/hpke/rfc9180-a2-1-base.json', import.meta.url);
const vector = Vector.parse(JSON.parse(readFileSync(fixture, 'utf8')));

const i2osp = (value: number, length: number): Uint8Array => {
  const out = new Uint8Array(length);
  for (let i = length - 1, v = value; i >= 0; i--, v >>>= 8) out[i] = v & 0xff;
  return out;
};

// RFC 9180 section 4 and 5.1, written out independently of @hpke/core to check the typed-in vector.
const VERSION_LABEL = utf8('HPKE-v1');
const labeledExtract = (suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array) =>
  extract(sha256, concatBytes(VERSION_LABEL, suiteId, utf8(label), ikm), salt);
const labeledExpand = (
  suiteId: Uint8Array,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  length: number,
) => expand(sha256, prk, concatBytes(i2osp(length, 2), VERSION_LABEL, suiteId, utf8(label), info), length);

const kemSuiteId = concatBytes(utf8('KEM'), i2osp(vector.kem_id, 2));
const hpkeSuiteId = concatBytes(
  utf8('HPKE'),
  i2osp(vector.kem_id, 2),
  i2osp(vector.kdf_id, 2),
  i2osp(vector.aead_id, 2),
);
const empty = new Uint8Array(0);
const bytes = (buffer: ArrayBuffer) => toHex(new Uint8Array(buffer));

async function recipientFromVector(): Promise<WorkerHpkeKeyPair> {
  const pair = await hpkeSuite.kem.deriveKeyPair(fromHex(vector.ikmR));
  const publicKey = new Uint8Array(await hpkeSuite.kem.serializePublicKey(pair.publicKey));
  return { publicKey, keyId: hpkeKeyId(publicKey), privateKey: pair.privateKey };
}

describe('RFC 9180 A.2.1 base mode vector', () => {
  it('is the suite we use', () => {
    expect([vector.mode, vector.kem_id, vector.kdf_id, vector.aead_id]).toEqual([
      0,
      HPKE_SUITE.kemId,
      HPKE_SUITE.kdfId,
      HPKE_SUITE.aeadId,
    ]);
    expect([hpkeSuite.kem.id, hpkeSuite.kdf.id, hpkeSuite.aead.id]).toEqual([
      HPKE_SUITE.kemId,
      HPKE_SUITE.kdfId,
      HPKE_SUITE.aeadId,
    ]);
  });

  it('derives the key pairs from ikmE and ikmR', async () => {
    const ephemeral = await hpkeSuite.kem.deriveKeyPair(fromHex(vector.ikmE));
    expect(bytes(await hpkeSuite.kem.serializePublicKey(ephemeral.publicKey))).toBe(vector.pkEm);
    expect(bytes(await hpkeSuite.kem.serializePrivateKey(ephemeral.privateKey))).toBe(vector.skEm);
    const recipient = await hpkeSuite.kem.deriveKeyPair(fromHex(vector.ikmR));
    expect(bytes(await hpkeSuite.kem.serializePublicKey(recipient.publicKey))).toBe(vector.pkRm);
    expect(bytes(await hpkeSuite.kem.serializePrivateKey(recipient.privateKey))).toBe(vector.skRm);
  });

  it('encapsulates to enc and the shared secret, and decapsulates to the same', async () => {
    const recipient = await recipientFromVector();
    const recipientPublicKey = await hpkeSuite.kem.deserializePublicKey(recipient.publicKey);
    const { enc, sharedSecret } = await hpkeSuite.kem.encap({
      recipientPublicKey,
      ekm: fromHex(vector.ikmE),
    });
    expect(bytes(enc)).toBe(vector.enc);
    expect(bytes(sharedSecret)).toBe(vector.shared_secret);
    const decapped = await hpkeSuite.kem.decap({
      recipientKey: recipient.privateKey,
      enc: fromHex(vector.enc),
    });
    expect(bytes(decapped)).toBe(vector.shared_secret);
  });

  it('has a shared secret and key schedule that follow from its inputs (RFC 9180 4.1, 5.1)', () => {
    const dh = x25519.getSharedSecret(fromHex(vector.skEm), fromHex(vector.pkRm));
    const eaePrk = labeledExtract(kemSuiteId, empty, 'eae_prk', dh);
    const kemContext = concatBytes(fromHex(vector.enc), fromHex(vector.pkRm));
    expect(toHex(labeledExpand(kemSuiteId, eaePrk, 'shared_secret', kemContext, 32))).toBe(
      vector.shared_secret,
    );

    const pskIdHash = labeledExtract(hpkeSuiteId, empty, 'psk_id_hash', empty);
    const infoHash = labeledExtract(hpkeSuiteId, empty, 'info_hash', fromHex(vector.info));
    const context = concatBytes(Uint8Array.of(vector.mode), pskIdHash, infoHash);
    expect(toHex(context)).toBe(vector.key_schedule_context);
    const secret = labeledExtract(hpkeSuiteId, fromHex(vector.shared_secret), 'secret', empty);
    expect(toHex(secret)).toBe(vector.secret);
    expect(toHex(labeledExpand(hpkeSuiteId, secret, 'key', context, 32))).toBe(vector.key);
    expect(toHex(labeledExpand(hpkeSuiteId, secret, 'base_nonce', context, 12))).toBe(vector.base_nonce);
    expect(toHex(labeledExpand(hpkeSuiteId, secret, 'exp', context, 32))).toBe(vector.exporter_secret);
  });

  it('produces the sequence of encryptions, and the recipient opens each in turn', async () => {
    const recipient = await recipientFromVector();
    const info = fromHex(vector.info);
    const sender = await hpkeSuite.createSenderContext({
      recipientPublicKey: await hpkeSuite.kem.deserializePublicKey(recipient.publicKey),
      info,
      ekm: fromHex(vector.ikmE),
    });
    expect(bytes(sender.enc)).toBe(vector.enc);
    const receiver = await hpkeSuite.createRecipientContext({
      recipientKey: recipient.privateKey,
      enc: fromHex(vector.enc),
      info,
    });
    const expected = new Map(vector.encryptions.map((e) => [e.seq, e]));
    const last = Math.max(...expected.keys());
    const pt = fromHex(vector.encryptions[0]?.pt ?? '');
    for (let seq = 0; seq <= last; seq++) {
      const aad = utf8(`Count-${seq}`);
      const ct = await sender.seal(pt, aad);
      const listed = expected.get(seq);
      if (listed) {
        expect(toHex(aad)).toBe(listed.aad);
        expect(bytes(ct)).toBe(listed.ct);
      }
      expect(toHex(new Uint8Array(await receiver.open(ct, aad)))).toBe(toHex(pt));
    }
    for (const { exporter_context, L, exported_value } of vector.exports) {
      expect(bytes(await sender.export(fromHex(exporter_context), L))).toBe(exported_value);
      expect(bytes(await receiver.export(fromHex(exporter_context), L))).toBe(exported_value);
    }
  });

  it('opens the vector ciphertext 0 with the single-shot wrapper', async () => {
    const recipient = await recipientFromVector();
    const [first] = vector.encryptions;
    if (!first) throw new Error('vector has no encryptions');
    const opened = await hpkeOpen(
      recipient,
      fromHex(vector.enc),
      fromHex(first.ct),
      fromHex(first.aad),
      fromHex(vector.info),
    );
    expect(toHex(opened)).toBe(first.pt);
  });
});

describe("the HPKE key schedule's HKDF-SHA256 (node:crypto under Node)", () => {
  it('gives RFC 5869 A.1, and what @noble/hashes gives for other lengths and an empty salt', async () => {
    const kdf = createHpkeKdf();
    const ikm = fromHex('0b'.repeat(22));
    const salt = fromHex('000102030405060708090a0b0c');
    const info = fromHex('f0f1f2f3f4f5f6f7f8f9');
    const prk = new Uint8Array(await kdf.extract(salt, ikm));
    expect(toHex(prk)).toBe('077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5');
    expect(toHex(new Uint8Array(await kdf.expand(prk, info, 42)))).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
    for (const length of [0, 1, 31, 32, 33, 64, 100]) {
      expect(new Uint8Array(await kdf.expand(prk, info, length))).toEqual(expand(sha256, prk, info, length));
    }
    expect(new Uint8Array(await kdf.extract(new Uint8Array(0), ikm))).toEqual(extract(sha256, ikm));
  });
});

describe('worker HPKE keys', () => {
  it('are raw 32-byte X25519 keys named by their SHA-256', async () => {
    const pair = await generateWorkerKeyPair();
    expect(pair.publicKey).toHaveLength(32);
    expect(pair.keyId).toBe(toHex(sha256(pair.publicKey)));
    expect((await generateWorkerKeyPair()).keyId).not.toBe(pair.keyId);
  });

  it('seal and open a round trip, and refuse a changed aad, another key or a short public key', async () => {
    const worker = await generateWorkerKeyPair();
    const other = await generateWorkerKeyPair();
    const info = utf8('test');
    const { enc, ciphertext } = await hpkeSeal(worker.publicKey, utf8('key material'), utf8('aad'), info);
    expect(toHex(await hpkeOpen(worker, enc, ciphertext, utf8('aad'), info))).toBe(
      toHex(utf8('key material')),
    );
    await expect(hpkeOpen(worker, enc, ciphertext, utf8('aae'), info)).rejects.toMatchObject({
      code: 'tampered',
    });
    await expect(hpkeOpen(other, enc, ciphertext, utf8('aad'), info)).rejects.toMatchObject({
      code: 'tampered',
    });
    const shortEnc = hpkeOpen(worker, enc.subarray(1), ciphertext, utf8('aad'), info);
    await expect(shortEnc).rejects.toBeInstanceOf(SealError);
    await expect(shortEnc).rejects.toMatchObject({ code: 'malformed' });
    await expect(hpkeSeal(worker.publicKey.subarray(1), utf8('x'), utf8('aad'), info)).rejects.toMatchObject({
      code: 'malformed',
    });
  });
});
