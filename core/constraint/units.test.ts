import assert from "node:assert/strict";
import { test } from "node:test";
import { parseQuantity } from "./units.ts";

test("quantities: SI decimal units, explicit binary units, bare numbers", () => {
  const cases: [string, number][] = [
    ["0", 0],
    ["1024", 1024],
    ["1.5", 1.5],
    [".5", 0.5],
    ["1B", 1],
    ["1KB", 1e3],
    ["1mb", 1e6],
    ["2GB", 2e9],
    ["1 TB", 1e12],
    ["1KiB", 1024],
    ["1MiB", 2 ** 20],
    ["1gib", 2 ** 30],
    ["1TiB", 2 ** 40],
  ];
  for (const [text, value] of cases)
    assert.deepEqual(parseQuantity(text, true), { ok: true, value });
});

test("quantities: refusals", () => {
  assert.deepEqual(parseQuantity("1G", true), { ok: false, reason: "ambiguous-unit", unit: "G" });
  assert.deepEqual(parseQuantity("1XB", true), { ok: false, reason: "unknown-unit", unit: "XB" });
  assert.deepEqual(parseQuantity("2GB", false), { ok: false, reason: "unknown-unit", unit: "GB" });
  assert.equal(parseQuantity("-1", true).ok, false);
  assert.equal(parseQuantity("1e9", true).ok, false);
  assert.equal(parseQuantity("", true).ok, false);
  assert.equal(parseQuantity("abc", true).ok, false);
});
