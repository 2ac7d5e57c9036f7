import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { globMatch } from "./glob.ts";

const table: [string, string, boolean][] = [
  ["edge-*", "edge-01", true],
  ["edge-*", "edge-", true],
  ["edge-*", "core-01", false],
  ["*-01", "edge-01", true],
  ["e?ge", "edge", true],
  ["e?ge", "ege", false],
  ["*", "", true],
  ["", "", true],
  ["", "a", false],
  ["a*b*c", "abc", true],
  ["a*b*c", "aXbYc", true],
  ["a*b*c", "aXbY", false],
  ["*a*a*a*b", `${"a".repeat(5000)}`, false],
  ["**", "x", true],
  ["x", "x?", false],
];

test("glob table", () => {
  for (const [pattern, text, want] of table) {
    assert.equal(globMatch(pattern, text), want, `${pattern} vs ${text}`);
  }
});

test("glob agrees with an equivalent regular expression", () => {
  const toRegex = (p: string) =>
    new RegExp(`^${p.replace(/[*?]/g, (c) => (c === "*" ? ".*" : "."))}$`, "s");
  const alphabet = fc.constantFrom("a", "b", "*", "?");
  fc.assert(
    fc.property(
      fc.array(alphabet, { maxLength: 8 }).map((a) => a.join("")),
      fc.array(fc.constantFrom("a", "b"), { maxLength: 10 }).map((a) => a.join("")),
      (pattern, text) => globMatch(pattern, text) === toRegex(pattern).test(text),
    ),
    { numRuns: 2000 },
  );
});
