import assert from "node:assert/strict";
import { test } from "node:test";
import { parseNodeTopic, topicMatches, topics } from "./topics.ts";

test("topic layout follows DESIGN §6", () => {
  const t = topics("c1");
  assert.equal(t.hello("n1"), "fleet/c1/n/n1/hello");
  assert.equal(t.heartbeat("n1"), "fleet/c1/n/n1/hb");
  assert.equal(t.status("n1"), "fleet/c1/n/n1/status");
  assert.equal(t.assign("n1"), "fleet/c1/n/n1/assign");
  assert.equal(t.csr("n1"), "fleet/c1/n/n1/csr");
  assert.equal(t.cert("n1"), "fleet/c1/n/n1/cert");
  assert.equal(t.joinRequest("r1"), "fleet/c1/join/r1/req");
  assert.equal(t.joinResponse("r1"), "fleet/c1/join/r1/resp");
  assert.equal(t.gossip("n1"), "fleet/c1/gossip/n1");
  assert.equal(t.event("task"), "fleet/c1/events/task");
  assert.equal(t.nodeState("n1"), "fleet/c1/state/nodes/n1");
  assert.equal(t.serviceState("s1"), "fleet/c1/state/services/s1");
});

test("ids that would break the topic tree are refused", () => {
  const t = topics("c1");
  for (const bad of ["", "a/b", "+", "#", "a+", "x y", "-lead", "a".repeat(129)]) {
    assert.throws(() => t.hello(bad), /invalid node id/, bad);
  }
  assert.throws(() => topics("c/1"), /invalid cluster id/);
});

test("node topics parse back", () => {
  assert.deepEqual(parseNodeTopic("fleet/c1/n/n1/status"), {
    clusterId: "c1",
    nodeId: "n1",
    kind: "status",
  });
  assert.equal(parseNodeTopic("fleet/c1/n/n1/status/x"), undefined);
  assert.equal(parseNodeTopic("other/c1/n/n1/status"), undefined);
  assert.equal(parseNodeTopic("fleet/c1/gossip/n1/x"), undefined);
});

test("filter matching follows MQTT rules", () => {
  const t = topics("c1");
  assert.ok(t.uplinkFilters.some((f) => topicMatches(f, t.status("n9"))));
  assert.ok(!t.uplinkFilters.some((f) => topicMatches(f, t.assign("n9"))));
  assert.ok(topicMatches(t.eventsFilter, t.event("node")));
  assert.ok(topicMatches("fleet/#", "fleet"));
  assert.ok(topicMatches("a/+/c", "a/b/c"));
  assert.ok(!topicMatches("a/+/c", "a/b/c/d"));
  assert.ok(!topicMatches("a/+", "a"));
});
