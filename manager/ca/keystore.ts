// The CA key at rest (swarm's autolock). With autolock on, the root key's PEM is sealed with
// AES-256-GCM under a key-encryption key derived (HKDF-SHA256) from the unlock key, which is
// shown to the operator once (`fleet unlock-key`) and never stored by the cluster. A manager
// restarting needs `fleet unlock` with it. The cluster id is bound in as associated data.

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { CryptoError } from "../../core/crypto/errors.ts";

export const UNLOCK_KEY_PREFIX = "FLTKEY-1-";
const SEALED_PREFIX = "fleet-sealed-key/v1";
const UNLOCK_KEY_BYTES = 32;
const SALT_BYTES = 16;
const IV_BYTES = 12;

/** A fresh unlock key, `FLTKEY-1-<base64url of 32 random bytes>`. */
export function generateUnlockKey(): string {
  return UNLOCK_KEY_PREFIX + randomBytes(UNLOCK_KEY_BYTES).toString("base64url");
}

function unlockKeyBytes(unlockKey: string): Buffer {
  const body = unlockKey.trim().startsWith(UNLOCK_KEY_PREFIX)
    ? unlockKey.trim().slice(UNLOCK_KEY_PREFIX.length)
    : "";
  const bytes = Buffer.from(body, "base64url");
  if (bytes.length !== UNLOCK_KEY_BYTES || bytes.toString("base64url") !== body)
    throw new CryptoError("bad-input", "unlock key must look like FLTKEY-1-<43 characters>");
  return bytes;
}

function kek(unlockKey: string, salt: Buffer): Buffer {
  const ikm = unlockKeyBytes(unlockKey);
  return Buffer.from(hkdfSync("sha256", ikm, salt, SEALED_PREFIX, 32));
}

/** Seals the CA key PEM: `fleet-sealed-key/v1:<salt>:<iv>:<ciphertext>:<tag>` (base64url). */
export function sealCAKey(keyPem: string, unlockKey: string, clusterId: string): string {
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", kek(unlockKey, salt), iv);
  cipher.setAAD(Buffer.from(`${SEALED_PREFIX}:${clusterId}`));
  const ct = Buffer.concat([cipher.update(keyPem, "utf8"), cipher.final()]);
  const parts = [salt, iv, ct, cipher.getAuthTag()].map((b) => b.toString("base64url"));
  return [SEALED_PREFIX, ...parts].join(":");
}

export function isSealed(stored: string): boolean {
  return stored.startsWith(`${SEALED_PREFIX}:`);
}

/** Opens a sealed CA key; a wrong unlock key or tampered blob is a typed error. */
export function openCAKey(sealed: string, unlockKey: string, clusterId: string): string {
  const parts = sealed.split(":");
  if (parts.length !== 5 || parts[0] !== SEALED_PREFIX)
    throw new CryptoError("bad-input", "stored CA key is not a sealed key");
  const [salt, iv, ct, tag] = parts.slice(1).map((p) => Buffer.from(p, "base64url")) as Buffer[];
  if (salt?.length !== SALT_BYTES || iv?.length !== IV_BYTES || tag?.length !== 16 || !ct)
    throw new CryptoError("bad-input", "sealed CA key is malformed");
  try {
    const decipher = createDecipheriv("aes-256-gcm", kek(unlockKey, salt), iv);
    decipher.setAAD(Buffer.from(`${SEALED_PREFIX}:${clusterId}`));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]).toString("utf8");
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    throw new CryptoError("bad-proof", "wrong unlock key (or the sealed CA key was altered)", {
      cause: err,
    });
  }
}

/** `fleet unlock-key --rotate`: the same CA key sealed under a new unlock key. */
export function rotateUnlockKey(
  sealed: string,
  oldKey: string,
  clusterId: string,
): { sealed: string; unlockKey: string } {
  const pem = openCAKey(sealed, oldKey, clusterId);
  const unlockKey = generateUnlockKey();
  return { sealed: sealCAKey(pem, unlockKey, clusterId), unlockKey };
}
