// The cluster's re-enrolment window setting (ClusterSpec.reenrolWindowMs): validated between 0
// (re-enrolment off) and limits.reenrolWindowMsMax, 30 days when absent (clusters made before
// the setting) and for a cluster object not there yet.

import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "../limits.ts";
import { clusterReenrolWindowMs, DAY_MS, defaultClusterSpec } from "./defaults.ts";
import { formatProblems, validateClusterSpec } from "./validate.ts";

test("the window defaults to 30 days; a cluster spec without the field reads as 30 days", () => {
  assert.equal(defaultClusterSpec.reenrolWindowMs, 30 * DAY_MS);
  const v = validateClusterSpec({ name: "c" });
  assert.ok(v.ok);
  assert.equal(v.value.reenrolWindowMs, 30 * DAY_MS);
  const { reenrolWindowMs: _, ...old } = defaultClusterSpec;
  assert.equal(clusterReenrolWindowMs(old), 30 * DAY_MS);
  assert.equal(clusterReenrolWindowMs(undefined), 30 * DAY_MS);
  assert.equal(clusterReenrolWindowMs({ reenrolWindowMs: 0 }), 0);
  assert.equal(clusterReenrolWindowMs({ reenrolWindowMs: 2 * DAY_MS }), 2 * DAY_MS);
});

test("the window is kept from 0 (off) to a year", () => {
  for (const ms of [0, 1, 3 * DAY_MS, limits.reenrolWindowMsMax]) {
    const v = validateClusterSpec({ reenrolWindowMs: ms });
    assert.ok(v.ok, v.ok ? "" : formatProblems(v.problems));
    assert.equal(v.value.reenrolWindowMs, ms);
  }
});

test("a window out of range or not an integer is a problem naming the field", () => {
  const bad: [unknown, RegExp][] = [
    [-1, /non-negative/],
    [limits.reenrolWindowMsMax + 1, /at most/],
    [1.5, /integer/],
    ["30d", /integer/],
    [null, /integer/],
  ];
  for (const [value, reason] of bad) {
    const v = validateClusterSpec({ reenrolWindowMs: value });
    assert.equal(v.ok, false, String(value));
    if (v.ok) continue;
    assert.equal(v.problems.length, 1);
    assert.equal(v.problems[0]!.path, "reenrolWindowMs");
    assert.match(v.problems[0]!.reason, reason, String(value));
  }
  const near = validateClusterSpec({ reenrolWindow: 1000 });
  assert.equal(near.ok, false);
  assert.match(near.ok ? "" : formatProblems(near.problems), /did you mean "reenrolWindowMs"/);
});
