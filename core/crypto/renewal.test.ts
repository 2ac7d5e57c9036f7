import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { CryptoError } from "./errors.ts";
import { renewalState, renewalTimeMs } from "./renewal.ts";

test("renewal lands between 50% and 80% of the lifetime", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 44 }),
      fc.integer({ min: 1, max: 2 ** 40 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (notBefore, life, r) => {
        const at = renewalTimeMs(notBefore, notBefore + life, r);
        assert.ok(at >= notBefore + Math.floor(life * 0.5) && at <= notBefore + life * 0.8);
      },
    ),
  );
  assert.equal(renewalTimeMs(0, 1000, 0), 500);
  assert.equal(renewalTimeMs(0, 1000, 0.5), 650);
  assert.throws(() => renewalTimeMs(10, 10, 0.5), CryptoError);
  assert.throws(() => renewalTimeMs(0, 10, 1), CryptoError);
  assert.throws(() => renewalTimeMs(0, 10, Number.NaN), CryptoError);
});

test("renewal state: valid, renew, re-enrol within the window, then join again", () => {
  assert.equal(renewalState(10, 50, 100, 30), "valid");
  assert.equal(renewalState(50, 50, 100, 30), "renew");
  assert.equal(renewalState(100, 50, 100, 30), "renew");
  assert.equal(renewalState(101, 50, 100, 30), "expired-reenrol");
  assert.equal(renewalState(130, 50, 100, 30), "expired-reenrol");
  assert.equal(renewalState(131, 50, 100, 30), "expired-rejoin");
});
