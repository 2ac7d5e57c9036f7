import assert from "node:assert/strict";
import { test } from "node:test";
import type { Node } from "../model/types.ts";
import { firstUnsatisfied, matchConstraint, matchConstraints } from "./match.ts";
import { parseConstraint } from "./parse.ts";

function node(over: {
  id?: string;
  hostname?: string;
  role?: "worker" | "manager";
  arch?: string;
  variant?: string;
  labels?: Record<string, string>;
  engine?: Record<string, string>;
  memoryBytes?: number;
  cpus?: number;
}): Node {
  const platform: Node["description"]["platform"] = { os: "linux", arch: over.arch ?? "x86_64" };
  if (over.variant !== undefined) platform.variant = over.variant;
  return {
    id: over.id ?? "n1",
    version: 1,
    createdAt: 0,
    updatedAt: 0,
    description: {
      hostname: over.hostname ?? "edge-01",
      platform,
      resources: { nanoCPUs: (over.cpus ?? 4) * 1e9, memoryBytes: over.memoryBytes ?? 2e9 },
      engineLabels: over.engine ?? {},
    },
    spec: { role: over.role ?? "worker", availability: "active", labels: over.labels ?? {} },
    status: { state: "ready" },
  };
}

const pi = node({
  id: "pi-7",
  hostname: "Edge-Pi-07",
  arch: "armv7l",
  labels: { zone: "East", gpu: "", rack: "12" },
  engine: { "hw.storage": "SD", "hw.cpus": "4", "hw.memory": "1GiB", fw: "1.2" },
  memoryBytes: 948 * 2 ** 20,
  cpus: 4,
});
const server = node({
  id: "srv-1",
  hostname: "core-1",
  role: "manager",
  labels: { zone: "west" },
  engine: { "hw.storage": "ssd", "hw.cpus": "16" },
  memoryBytes: 64e9,
  cpus: 16,
});

// [constraint, matches pi, matches server]
const table: [string, boolean, boolean][] = [
  ["node.id==pi-7", true, false],
  ["node.id!=PI-7", false, true],
  ["node.hostname==edge-pi-07", true, false],
  ["node.role==manager", false, true],
  ["node.role!=manager", true, false],
  ["node.platform.os==linux", true, true],
  ["node.platform.arch==arm", true, false],
  ["node.platform.arch==armhf", true, false],
  ["node.platform.arch==amd64", false, true],
  ["node.platform.arch==x86_64", false, true],
  ["node.platform.variant==v7", true, false],
  ["node.platform.variant==7", true, false],
  ["node.labels.zone==east", true, false],
  ["node.labels.zone!=east", false, true],
  ["node.labels.Zone==east", false, false], // label names are case-sensitive
  ["node.labels.missing!=x", true, true],
  ["node.labels.gpu", true, false], // present with an empty value still exists
  ["!node.labels.gpu", false, true],
  ["engine.labels.hw.storage==sd", true, false],
  ["hw.storage==ssd", false, true],
  ["hw.storage in (ssd, nvme)", false, true],
  ["hw.storage in (SD, emmc)", true, false],
  ["node.labels.missing in (a, b)", false, false],
  ["node.hostname ~= edge-*", true, false],
  ["node.hostname ~= *-?", false, true],
  ["node.hostname ~= *", true, true],
  ["node.labels.missing ~= *", true, true],
  ["node.labels.missing ~= ?*", false, false],
  ["node.resources.memory >= 1GB", false, true],
  ["node.resources.memory >= 900MiB", true, true],
  ["node.resources.memory < 1GiB", true, false],
  ["node.resources.memory <= 64GB", true, true],
  ["node.resources.memory == 64GB", false, true],
  ["node.resources.memory != 64GB", true, false],
  ["node.resources.cpus > 4", false, true],
  ["node.resources.cpus >= 4", true, true],
  ["hw.cpus > 2", true, true],
  ["hw.cpus > 8", false, true],
  ["hw.memory >= 1GB", true, false], // 1GiB label > 10^9; missing on server
  ["hw.memory < 1GB", false, false], // a missing label satisfies no comparison
  ["node.labels.rack >= 12", true, false],
  ["node.labels.zone > 1", false, false], // not a number
  ["engine.labels.fw == 1.2", true, false],
];

test("every operator and key against two nodes", () => {
  const wrong: string[] = [];
  for (const [text, onPi, onServer] of table) {
    const c = parseConstraint(text);
    const got = [matchConstraint(c, pi), matchConstraint(c, server)];
    if (got[0] !== onPi || got[1] !== onServer) wrong.push(`${text}: got ${got}`);
  }
  assert.deepEqual(wrong, []);
});

test("constraints are ANDed; firstUnsatisfied names the first failing one", () => {
  const cs = ["node.platform.arch==arm", "hw.storage==sd", "node.labels.zone==west"].map((t) =>
    parseConstraint(t),
  );
  assert.equal(matchConstraints(cs, pi), false);
  assert.equal(firstUnsatisfied(cs, pi), 2);
  assert.equal(firstUnsatisfied(cs, server), 0);
  assert.equal(matchConstraints(cs.slice(0, 2), pi), true);
  assert.equal(firstUnsatisfied([], server), -1);
});

test("a label inherited from Object.prototype is not a label", () => {
  const c = parseConstraint("node.labels.constructor");
  assert.equal(matchConstraint(c, pi), false);
});
