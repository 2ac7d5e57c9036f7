import assert from "node:assert/strict";
import { test } from "node:test";
import { CodecError, decodeCbor, encodeCbor } from "./cbor.ts";

test("round-trips plain values", () => {
  const v = { a: 1, b: "x", c: [1, 2, { d: null }], e: true, f: -3.5, g: new Uint8Array([1, 2]) };
  const back = decodeCbor(encodeCbor(v)) as typeof v;
  assert.deepEqual({ ...back, g: [...back.g] }, { ...v, g: [1, 2] });
});

test("rejects oversized, empty, trailing and truncated input with CodecError", () => {
  const bytes = encodeCbor({ hello: "world" });
  assert.throws(() => encodeCbor("x".repeat(100), 10), CodecError);
  assert.throws(() => decodeCbor(bytes, 3), { code: "too_large" });
  assert.throws(() => decodeCbor(new Uint8Array()), { code: "malformed" });
  const twice = new Uint8Array([...bytes, ...bytes]);
  assert.throws(() => decodeCbor(twice), { code: "malformed" });
  assert.throws(() => decodeCbor(bytes.subarray(0, bytes.length - 2)), { code: "malformed" });
});
