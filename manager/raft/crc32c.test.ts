import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { crc32c, crc32cUpdate } from "./crc32c.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

/** Bit-at-a-time reference, obviously right and slow. */
function reference(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

test("crc32c matches the published check values", () => {
  assert.equal(crc32c(ascii("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  // RFC 3720 (iSCSI) appendix B.4 vectors.
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  const inc = Uint8Array.from({ length: 32 }, (_, i) => i);
  assert.equal(crc32c(inc), 0x46dd794e);
  const dec = Uint8Array.from({ length: 32 }, (_, i) => 31 - i);
  assert.equal(crc32c(dec), 0x113fdb5c);
});

test("crc32c agrees with the bitwise reference on any input and split", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, cut) => {
      const at = Math.min(cut, bytes.length);
      const whole = crc32c(bytes);
      assert.equal(whole, reference(bytes));
      assert.equal(crc32cUpdate(crc32c(bytes, 0, at), bytes, at), whole);
    }),
    { numRuns: 300 },
  );
});
