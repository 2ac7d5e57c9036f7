import assert from "node:assert/strict";
import { test } from "node:test";
import { CryptoError } from "../../core/crypto/errors.ts";
import { privateKeyFromPem, privateKeyToPem } from "../../core/crypto/keys.ts";
import { testKey } from "../../core/crypto/testing.ts";
import { generateUnlockKey, isSealed, openCAKey, rotateUnlockKey, sealCAKey } from "./keystore.ts";

test("autolock: the CA key sealed under the unlock key opens only with it", () => {
  const pem = privateKeyToPem(testKey("ca"));
  const unlock = generateUnlockKey();
  assert.match(unlock, /^FLTKEY-1-[A-Za-z0-9_-]{43}$/);
  const sealed = sealCAKey(pem, unlock, "c1");
  assert.ok(isSealed(sealed));
  assert.ok(!sealed.includes("PRIVATE KEY"));
  assert.equal(openCAKey(sealed, unlock, "c1"), pem);
  assert.notEqual(sealCAKey(pem, unlock, "c1"), sealed, "fresh salt and IV each time");
  const wrong = (e: unknown) => e instanceof CryptoError && e.code === "bad-proof";
  assert.throws(() => openCAKey(sealed, generateUnlockKey(), "c1"), wrong);
  assert.throws(() => openCAKey(sealed, unlock, "c2"), wrong, "bound to the cluster");
  const parts = sealed.split(":");
  // Change the first character of the ciphertext (to a different one: it may already be "A").
  const first = (parts[3] as string)[0] === "A" ? "B" : "A";
  parts[3] = `${first}${(parts[3] as string).slice(1)}`;
  assert.throws(() => openCAKey(parts.join(":"), unlock, "c1"), CryptoError);
  assert.throws(() => openCAKey("garbage", unlock, "c1"), CryptoError);
  assert.throws(() => openCAKey(sealed, "FLTKEY-1-short", "c1"), CryptoError);
});

test("unlock-key --rotate: same CA key, new unlock key; the old one stops working", () => {
  const pem = privateKeyToPem(testKey("ca"));
  const first = generateUnlockKey();
  const sealed = sealCAKey(pem, first, "c1");
  const r = rotateUnlockKey(sealed, first, "c1");
  assert.equal(privateKeyFromPem(openCAKey(r.sealed, r.unlockKey, "c1")).curve, "ed25519");
  assert.throws(() => openCAKey(r.sealed, first, "c1"), CryptoError);
});
