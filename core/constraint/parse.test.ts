import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "../limits.ts";
import { ConstraintError, type ConstraintErrorCode } from "./errors.ts";
import { parseConstraint, parseConstraints } from "./parse.ts";

// [input, expected shape (text and target key are checked separately)]
const valid: [string, Record<string, unknown>][] = [
  ["node.role==manager", { kind: "equals", negate: false, value: "manager" }],
  ["node.role != Worker", { kind: "equals", negate: true, value: "worker" }],
  ["node.id==abc123", { kind: "equals", negate: false, value: "abc123" }],
  ["node.hostname==Edge-01", { kind: "equals", negate: false, value: "edge-01" }],
  ["node.platform.os==Linux", { kind: "equals", negate: false, value: "linux" }],
  ["node.platform.arch==x86_64", { kind: "equals", negate: false, value: "amd64" }],
  ["node.platform.arch==aarch64", { kind: "equals", negate: false, value: "arm64" }],
  ["node.platform.variant==7", { kind: "equals", negate: false, value: "v7" }],
  ["node.labels.zone==East", { kind: "equals", negate: false, value: "east" }],
  ["engine.labels.fw==1.2", { kind: "equals", negate: false, value: "1.2" }],
  ["hw.storage==ssd", { kind: "equals", negate: false, value: "ssd" }],
  ["node.labels.site == Main hall", { kind: "equals", negate: false, value: "main hall" }],
  ["node.labels.model==Pi 4 (4GB)", { kind: "equals", negate: false, value: "pi 4 (4gb)" }],
  ["node.labels.gpu", { kind: "exists", negate: false }],
  ["!node.labels.gpu", { kind: "exists", negate: true }],
  ["! hw.camera", { kind: "exists", negate: true }],
  ["node.labels.zone in (a, B,c)", { kind: "set", values: ["a", "b", "c"] }],
  ["node.labels.zone IN(a)", { kind: "set", values: ["a"] }],
  ["node.platform.arch in (x86_64, armhf)", { kind: "set", values: ["amd64", "arm"] }],
  ["node.hostname ~= Edge-*", { kind: "glob", pattern: "edge-*" }],
  ["node.resources.memory >= 1GB", { kind: "compare", op: ">=", number: 1e9 }],
  ["node.resources.memory>=1.5GiB", { kind: "compare", op: ">=", number: 1.5 * 2 ** 30 }],
  ["node.resources.memory < 512 MiB", { kind: "compare", op: "<", number: 512 * 2 ** 20 }],
  ["node.resources.memory == 1024", { kind: "compare", op: "==", number: 1024 }],
  ["node.resources.memory != 2kb", { kind: "compare", op: "!=", number: 2000 }],
  ["node.resources.cpus > 2", { kind: "compare", op: ">", number: 2 }],
  ["node.resources.cpus <= .5", { kind: "compare", op: "<=", number: 0.5 }],
  ["hw.cpus > 2", { kind: "compare", op: ">", number: 2 }],
  ["hw.memory >= 4TB", { kind: "compare", op: ">=", number: 4e12 }],
  ["node.labels.rack < 10", { kind: "compare", op: "<", number: 10 }],
];

test("valid constraints parse into plain data", () => {
  for (const [input, want] of valid) {
    const c = parseConstraint(input) as unknown as Record<string, unknown>;
    const picked = Object.fromEntries(Object.keys(want).map((k) => [k, c[k]]));
    assert.deepEqual(picked, want, input);
    assert.equal(c.text, input.trim(), input);
    assert.deepEqual(JSON.parse(JSON.stringify(c)), c, `${input}: plain data`);
  }
});

test("keys resolve to canonical targets; prefixes case-insensitive, label names not", () => {
  const cases: [string, string, string, string][] = [
    ["Node.Labels.Zone==a", "node.labels.Zone", "nodeLabel", "Zone"],
    ["ENGINE.labels.os.version==1", "engine.labels.os.version", "engineLabel", "os.version"],
    ["hw.storage==ssd", "engine.labels.hw.storage", "engineLabel", "hw.storage"],
    ["NODE.HOSTNAME==x", "node.hostname", "hostname", ""],
    ["node.labels.team/app-1==x", "node.labels.team/app-1", "nodeLabel", "team/app-1"],
  ];
  for (const [input, key, kind, label] of cases) {
    assert.deepEqual(parseConstraint(input).target, { key, kind, label }, input);
  }
});

// [input, code, column, suggestion or undefined]
const invalid: [string, ConstraintErrorCode, number, string | undefined][] = [
  ["", "empty", 1, undefined],
  ["   ", "empty", 4, undefined],
  ["==x", "expected-key", 1, undefined],
  ["node.labls.zone==a", "unknown-key", 1, "node.labels.zone==a"],
  ["node.label.zone==a", "unknown-key", 1, "node.labels.zone==a"],
  ["engine.label.x==1", "unknown-key", 1, "engine.labels.x==1"],
  ["hostname==edge-1", "unknown-key", 1, "node.hostname==edge-1"],
  ["  node.hostnme==a", "unknown-key", 3, "node.hostname==a"],
  ["node.platform.arc==arm64", "unknown-key", 1, "node.platform.arch==arm64"],
  ["labels.zone==a", "unknown-key", 1, "node.labels.zone==a"],
  ["colour==blue", "unknown-key", 1, undefined],
  ["node.labels.==a", "empty-label", 13, undefined],
  ["node.labels==a", "empty-label", 12, undefined],
  ["node.labels._x==a", "bad-label", 1, undefined],
  ["node.hostname", "expected-operator", 14, undefined],
  ["node.labels.zone east", "expected-operator", 18, "node.labels.zone==east"],
  ["node.labels.zone: east", "expected-operator", 17, "node.labels.zone==east"],
  ["node.labels.storage=ssd", "bad-operator", 20, "node.labels.storage==ssd"],
  ["node.role===manager", "bad-operator", 10, "node.role==manager"],
  ["node.role<>manager", "bad-operator", 10, "node.role!=manager"],
  ["node.hostname =~ edge-*", "bad-operator", 15, "node.hostname ~= edge-*"],
  ["hw.cpus => 2", "bad-operator", 9, "hw.cpus >= 2"],
  ["node.role=!worker", "bad-operator", 10, "node.role!=worker"],
  ["node.role >< worker", "bad-operator", 11, undefined],
  ["!node.labels.gpu==yes", "wrong-operator", 1, "node.labels.gpu!=yes"],
  ["!node.hostname", "wrong-operator", 2, undefined],
  ["node.hostname > 3", "wrong-operator", 15, undefined],
  ["node.resources.memory ~= 1*", "wrong-operator", 23, undefined],
  ["node.resources.cpus in (1, 2)", "wrong-operator", 21, undefined],
  ["node.role==", "missing-value", 12, undefined],
  ["node.labels.zone in ", "expected-set", 21, undefined],
  ["node.labels.zone in a,b", "expected-set", 21, "node.labels.zone in (a,b)"],
  ["node.labels.zone in (a,b", "unclosed-set", 21, "node.labels.zone in (a,b)"],
  ["node.labels.zone in (a,,b)", "empty-set-item", 24, undefined],
  ["node.labels.zone in (a, )", "empty-set-item", 25, undefined],
  ["node.labels.zone in (a) b", "trailing-input", 25, undefined],
  ["node.labels.zone in (a, =b)", "bad-value", 25, undefined],
  ["node.labels.zone==a==b", "bad-value", 20, undefined],
  ["node.labels.zone==a,b", "bad-value", 20, undefined],
  ["node.role==mangaer", "bad-role", 12, "node.role==manager"],
  ["node.role in (worker, managr)", "bad-role", 23, "node.role in (worker, manager)"],
  ["node.role==boss", "bad-role", 12, undefined],
  ["hw.cpus > many", "bad-number", 11, undefined],
  ["node.resources.memory >= 1..5GB", "bad-number", 26, undefined],
  ["node.resources.memory >= 1Gb2", "bad-number", 26, undefined],
  ["node.resources.memory >= 1GG", "bad-unit", 27, "node.resources.memory >= 1GB"],
  ["node.resources.memory >= 1 bytes", "bad-unit", 28, undefined],
  ["node.resources.cpus >= 2GB", "bad-unit", 25, undefined],
  ["node.resources.memory >= 1G", "ambiguous-unit", 27, "node.resources.memory >= 1GB"],
  ["hw.memory>=512m", "ambiguous-unit", 15, "hw.memory>=512MB"],
];

test("every error has a code, a column and, where one is near, a fix", () => {
  const wrong: string[] = [];
  for (const [input, code, column, suggestion] of invalid) {
    let err: unknown;
    try {
      parseConstraint(input);
    } catch (e) {
      err = e;
    }
    if (!(err instanceof ConstraintError)) {
      wrong.push(`${input}: expected a ConstraintError, got ${err}`);
      continue;
    }
    const got = { code: err.code, column: err.column, suggestion: err.suggestion };
    const want = { code, column, suggestion };
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      wrong.push(`${input}: got ${JSON.stringify(got)} want ${JSON.stringify(want)}`);
    }
    assert.equal(err.module, "constraint");
    assert.equal(err.retryable, false);
    assert.match(err.message, new RegExp(`column ${column}:`));
  }
  assert.deepEqual(wrong, []);
});

test("a unit's case does not matter except that it must name a unit", () => {
  assert.equal((parseConstraint("hw.memory>=1gib") as { number: number }).number, 2 ** 30);
  assert.equal((parseConstraint("hw.memory>=1Gb") as { number: number }).number, 1e9);
});

test("the message names the constraint and the fix, as an operator reads it", () => {
  assert.throws(
    () => parseConstraint("node.labels.storage=ssd"),
    (e: Error) =>
      e.message ===
      "constraint: `node.labels.storage=ssd` column 20: unknown operator `=`: " +
        "expected ==, !=, in, ~=, <, <=, > or >= (did you mean `node.labels.storage==ssd`?)",
  );
});

test("length and count limits", () => {
  const long = `node.labels.x==${"a".repeat(limits.constraintLengthMax)}`;
  assert.throws(() => parseConstraint(long), { code: "too-long" });
  const many = `node.labels.x in (${Array.from({ length: 65 }, (_, i) => `v${i}`).join(",")})`;
  assert.throws(() => parseConstraint(many), { code: "too-many-values" });
  const list = Array.from(
    { length: limits.constraintsPerServiceMax + 1 },
    () => "node.role==worker",
  );
  assert.throws(() => parseConstraints(list), { code: "too-many" });
  assert.equal(parseConstraints(list.slice(1)).length, limits.constraintsPerServiceMax);
});

test("parseConstraints says which item failed", () => {
  assert.throws(
    () => parseConstraints(["node.role==worker", "node.labels.zone=a"]),
    (e: ConstraintError) => e.index === 1 && e.message.includes("[1] `node.labels.zone=a`"),
  );
});
