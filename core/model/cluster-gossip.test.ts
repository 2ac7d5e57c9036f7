// The cluster's gossip switch (ClusterSpec.gossip): a boolean, on by default, on for a cluster
// object written before the setting (clusterGossip) and for a cluster object not there yet.

import assert from "node:assert/strict";
import { test } from "node:test";
import { clusterGossip, defaultClusterSpec } from "./defaults.ts";
import { formatProblems, validateClusterSpec } from "./validate.ts";

test("gossip is on by default, and for a spec without the field", () => {
  assert.equal(defaultClusterSpec.gossip, true);
  const v = validateClusterSpec({ name: "c" });
  assert.ok(v.ok);
  assert.equal(v.value.gossip, true);
  const { gossip: _, ...old } = defaultClusterSpec;
  assert.equal(clusterGossip(old), true);
  assert.equal(clusterGossip(undefined), true);
  assert.equal(clusterGossip({ gossip: false }), false);
});

test("gossip off is kept, and on again", () => {
  for (const on of [false, true]) {
    const v = validateClusterSpec({ ...defaultClusterSpec, gossip: on });
    assert.ok(v.ok, v.ok ? "" : formatProblems(v.problems));
    assert.equal(v.value.gossip, on);
  }
});

test("a gossip value that is not a boolean is a problem naming the field", () => {
  for (const bad of ["off", 0, 1, null, "false"]) {
    const v = validateClusterSpec({ gossip: bad });
    assert.equal(v.ok, false, String(bad));
    if (v.ok) continue;
    assert.equal(v.problems.length, 1);
    assert.equal(v.problems[0]!.path, "gossip");
  }
  const near = validateClusterSpec({ gosip: false });
  assert.match(near.ok ? "" : formatProblems(near.problems), /did you mean "gossip"/);
});
