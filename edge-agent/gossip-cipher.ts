// AES-256-GCM from node:crypto for sealed gossip (core/gossip.ts takes it injected; core has no
// node: modules). A 12-byte nonce, a 16-byte tag appended to the ciphertext.

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { GOSSIP_NONCE_BYTES, type GossipCipher } from "../core/gossip.ts";

const TAG_BYTES = 16;

export const aesGcm: GossipCipher = {
  seal(key, nonce, aad, plaintext) {
    const c = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
    c.setAAD(aad);
    const body = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
    return new Uint8Array(body.buffer, body.byteOffset, body.length);
  },
  open(key, nonce, aad, sealed) {
    if (key.length !== 32 || nonce.length !== GOSSIP_NONCE_BYTES || sealed.length < TAG_BYTES)
      return undefined;
    try {
      const d = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      const out = Buffer.concat([
        d.update(sealed.subarray(0, sealed.length - TAG_BYTES)),
        d.final(),
      ]);
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    } catch {
      return undefined; // the tag does not match: tampered, wrong key or wrong additional data
    }
  },
};

/** A fresh nonce per message (96 random bits: collisions are negligible before a rotation). */
export function gossipNonce(): Uint8Array {
  return new Uint8Array(randomBytes(GOSSIP_NONCE_BYTES));
}
