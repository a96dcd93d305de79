import { Chacha20Poly1305 } from '@hpke/chacha20poly1305';
import { CipherSuite, HkdfSha256 } from '@hpke/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes, toHex } from '../../src/bytes.js';
import * as node from '../../src/crypto/primitives-node.js';
import * as web from '../../src/crypto/primitives-web.js';
import { byteMutation, mutateBytes, runs, timeoutFor } from './support.js';

// Compile-time: the browser build offers exactly what the Node build does, with the same types.
const sameApi: typeof node = web;
const builds = { node: sameApi, web } as const;
const pairs = [
  ['node', 'web'],
  ['web', 'node'],
] as const;

const bytes = (maxLength = 300) => fc.uint8Array({ maxLength });
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const nonce12 = fc.uint8Array({ minLength: 12, maxLength: 12 });

describe('the Node (OpenSSL) and browser (WebCrypto, pure JS) builds of the crypto primitives', () => {
  it('hash, stream-hash and base64-encode to the same bytes', () => {
    fc.assert(
      fc.property(fc.array(bytes(), { maxLength: 5 }), (parts) => {
        const streams = { node: node.createSha256(), web: web.createSha256() };
        for (const part of parts) {
          streams.node.update(part);
          streams.web.update(part);
        }
        expect(toHex(streams.node.digest())).toBe(toHex(streams.web.digest()));
        // digest() leaves the stream open: a second call gives the same value.
        expect(toHex(streams.node.digest())).toBe(toHex(streams.web.digest()));
        for (const part of parts) {
          expect(toHex(node.sha256(part))).toBe(toHex(web.sha256(part)));
          const text = node.toBase64(part);
          expect(text).toBe(web.toBase64(part));
          expect(equalBytes(node.fromBase64(text), part)).toBe(true);
          expect(equalBytes(web.fromBase64(text), part)).toBe(true);
          const hex = node.toHex(part);
          expect(hex).toBe(web.toHex(part));
          expect(equalBytes(node.fromHex(hex), part)).toBe(true);
          expect(equalBytes(node.fromHex(hex.toUpperCase()), web.fromHex(hex.toUpperCase()))).toBe(true);
        }
      }),
      runs(200),
    );
  });

  it.each([
    ['base64', 'fromBase64', 'AZaz09+/=-_ $\n'],
    ['hex', 'fromHex', '09afAFgx \n'],
  ] as const)('accept and refuse the same %s text', (_, decode, alphabet) => {
    const decoded = (build: typeof web, text: string) => {
      try {
        return toHex(build[decode](text));
      } catch {
        return 'refused';
      }
    };
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...alphabet.split('')), maxLength: 12 }), (text) => {
        expect(decoded(node, text)).toBe(decoded(web, text));
      }),
      runs(500),
    );
  });

  it(
    'derive the same AES-GCM key: what one build seals the other opens, and a changed byte is refused',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          key32,
          bytes(32),
          bytes(40),
          nonce12,
          bytes(),
          bytes(60),
          fc.constantFrom(...pairs),
          byteMutation,
          async (secret, salt, info, nonce, plaintext, aad, [from, to], mutation) => {
            const sealed = await builds[from].aesGcmEncrypt(
              await builds[from].deriveAeadKey(secret, salt, info),
              nonce,
              plaintext,
              aad,
            );
            expect(sealed.length).toBe(plaintext.length + 16);
            const key = await builds[to].deriveAeadKey(secret, salt, info);
            expect(toHex(await builds[to].aesGcmDecrypt(key, nonce, sealed, aad))).toBe(toHex(plaintext));
            await expect(
              builds[to].aesGcmDecrypt(key, nonce, mutateBytes(sealed, mutation), aad),
            ).rejects.toThrow();
            await expect(
              builds[to].aesGcmDecrypt(key, nonce, sealed, mutateBytes(aad, mutation)),
            ).rejects.toThrow();
          },
        ),
        runs(60),
      );
    },
    timeoutFor(20),
  );

  it(
    'run the same HPKE: a key wrapped with one build opens with the other',
    async () => {
      const suite = (build: typeof web) =>
        new CipherSuite({ kem: build.createHpkeKem(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
      const suites = { node: suite(node), web: suite(web) };
      await fc.assert(
        fc.asyncProperty(key32, bytes(60), fc.constantFrom(...pairs), async (secret, aad, [from, to]) => {
          const recipient = await suites[to].kem.generateKeyPair();
          const publicKey = await suites[to].kem.serializePublicKey(recipient.publicKey);
          const { enc, ct } = await suites[from].seal(
            { recipientPublicKey: await suites[from].kem.deserializePublicKey(publicKey) },
            secret,
            aad,
          );
          const opened = await suites[to].open({ recipientKey: recipient.privateKey, enc }, ct, aad);
          expect(toHex(new Uint8Array(opened))).toBe(toHex(secret));
        }),
        runs(20),
      );
    },
    timeoutFor(30),
  );
});
