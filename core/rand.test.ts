import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng, shuffled, splitmix32 } from "./rand.ts";

test("the same seed replays the same sequence; another seed does not", () => {
  const draw = (seed: number) => {
    const rng = createRng(seed);
    return Array.from({ length: 64 }, () => rng.nextUint32());
  };
  assert.deepEqual(draw(42), draw(42));
  assert.notDeepEqual(draw(42), draw(43));
});

test("values stay in range and look uniform", () => {
  const rng = createRng(7);
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < 100_000; i++) {
    const f = rng.float();
    assert.ok(f >= 0 && f < 1);
    const n = rng.int(10);
    assert.ok(Number.isInteger(n) && n >= 0 && n < 10);
    buckets[n]!++;
  }
  for (const b of buckets) assert.ok(b > 9_500 && b < 10_500, `bucket ${b} far from 10000`);
});

test("splitmix32 gives distinct words from consecutive seeds", () => {
  const words = new Set<number>();
  for (let seed = 0; seed < 1000; seed++) words.add(splitmix32(seed)());
  assert.equal(words.size, 1000);
});

test("shuffled permutes a copy and leaves the input alone", () => {
  const input = Object.freeze(Array.from({ length: 100 }, (_, i) => i));
  const out = shuffled(createRng(1), input);
  assert.deepEqual(
    [...out].sort((a, b) => a - b),
    [...input],
  );
  assert.notDeepEqual(out, [...input]);
  assert.deepEqual(shuffled(createRng(1), input), out);
});

test("int rejects a non-positive bound", () => {
  assert.throws(() => createRng(1).int(0), /assertion failed/);
});
