import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { topicMatches } from "../topics.ts";
import { type Access, authorize, filterCovered, type Principal } from "./acl.ts";

const worker: Principal = { kind: "node", clusterId: "c1", nodeId: "w1", role: "worker" };
const manager: Principal = { kind: "node", clusterId: "c1", nodeId: "m1", role: "manager" };
const admin: Principal = { kind: "node", clusterId: "c1", nodeId: "ops", role: "admin" };
const join: Principal = { kind: "join", clusterId: "c1", requestId: "r1" };

const P = "publish";
const S = "subscribe";
const table: [Principal, Access, string, boolean][] = [
  // A node publishes only its own uplinks and its own gossip.
  [worker, P, "fleet/c1/n/w1/hello", true],
  [worker, P, "fleet/c1/n/w1/hb", true],
  [worker, P, "fleet/c1/n/w1/status", true],
  [worker, P, "fleet/c1/n/w1/csr", true],
  [worker, P, "fleet/c1/gossip/w1", true],
  [worker, P, "fleet/c1/n/w1/logs/r1", true],
  [worker, P, "fleet/c1/n/w2/logs/r1", false],
  [worker, P, "fleet/c1/n/w1/logs", false],
  [worker, P, "fleet/c1/n/w2/status", false],
  [worker, P, "fleet/c1/n/w1/assign", false],
  [worker, P, "fleet/c1/n/w1/cert", false],
  [worker, P, "fleet/c1/gossip/w2", false],
  [worker, P, "fleet/c1/events/node", false],
  [worker, P, "fleet/c1/state/nodes/w1", false],
  [worker, P, "fleet/c1/join/r1/resp", false],
  [worker, P, "fleet/c2/n/w1/status", false],
  [worker, P, "fleet/c1/n/w1/+", false],
  [worker, P, "fleet/c1/n/w1/status/x", false],
  // ... and subscribes only to its own downlinks and everyone's gossip.
  [worker, S, "fleet/c1/n/w1/assign", true],
  [worker, S, "fleet/c1/n/w1/cert", true],
  [worker, S, "fleet/c1/n/w1/logs", true],
  [worker, S, "fleet/c1/n/w2/logs", false],
  [worker, S, "fleet/c1/n/w1/logs/+", false],
  [worker, S, "fleet/c1/gossip/+", true],
  [worker, S, "fleet/c1/gossip/w9", true],
  [worker, S, "fleet/c1/gossip/#", false],
  [worker, S, "fleet/c1/managers/beacon", true],
  [worker, S, "fleet/c1/managers/+", false],
  [worker, P, "fleet/c1/managers/beacon", false],
  [manager, P, "fleet/c1/managers/beacon", true],
  [join, S, "fleet/c1/managers/beacon", false],
  [worker, S, "fleet/c1/n/w2/assign", false],
  [worker, S, "fleet/c1/n/+/assign", false],
  [worker, S, "fleet/c1/n/w1/#", false],
  [worker, S, "fleet/c1/n/w1/+", false],
  [worker, S, "fleet/c1/#", false],
  [worker, S, "#", false],
  [worker, S, "$SYS/#", false],
  [worker, S, "fleet/c1/events/#", false],
  // Managers: everything under the cluster root, nothing outside it.
  [manager, P, "fleet/c1/n/w1/assign", true],
  [manager, S, "fleet/c1/#", true],
  [manager, S, "fleet/c1/n/+/status", true],
  [manager, P, "fleet/c1/events/node", true],
  [manager, S, "fleet/#", false],
  [manager, P, "fleet/c2/n/w1/assign", false],
  [manager, S, "$SYS/broker/uptime", false],
  // Admins (operators) read events and state, write nothing.
  [admin, S, "fleet/c1/events/#", true],
  [admin, S, "fleet/c1/state/nodes/w1", true],
  [admin, S, "fleet/c1/state/#", true],
  [admin, S, "fleet/c1/#", false],
  [admin, S, "fleet/c1/n/w1/assign", false],
  [admin, P, "fleet/c1/events/node", false],
  // A join session sees only its own request and response.
  [join, P, "fleet/c1/join/r1/req", true],
  [join, S, "fleet/c1/join/r1/resp", true],
  [join, P, "fleet/c1/join/r2/req", false],
  [join, S, "fleet/c1/join/r2/resp", false],
  [join, S, "fleet/c1/join/+/resp", false],
  [join, P, "fleet/c1/join/r1/resp", false],
  [join, P, "fleet/c1/n/r1/hello", false],
  [join, S, "fleet/c1/gossip/+", false],
];

test("ACL table", () => {
  for (const [p, access, topic, want] of table) {
    const d = authorize(p, access, topic);
    const who = p.kind === "join" ? p.requestId : p.nodeId;
    assert.equal(d.allow, want, `${who} ${access} ${topic}: ${d.reason}`);
    assert.ok(d.reason.length > 0);
  }
});

test("principals with ids that could inject topic levels are refused", () => {
  const sneaky: Principal = { kind: "node", clusterId: "c1", nodeId: "+", role: "worker" };
  assert.equal(authorize(sneaky, S, "fleet/c1/n/+/assign").allow, false);
  const hash: Principal = { kind: "join", clusterId: "c1", requestId: "#" };
  assert.equal(authorize(hash, S, "fleet/c1/join/#").allow, false);
});

test("a covered filter never matches a topic its grant does not", () => {
  const level = fc.constantFrom("a", "b", "+", "#");
  const filter = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join("/"));
  const topic = fc.array(fc.constantFrom("a", "b", "c"), { minLength: 1, maxLength: 5 });
  fc.assert(
    fc.property(filter, filter, topic, (f, g, t) => {
      const wellFormed = (x: string) => !x.includes("#") || x.indexOf("#") === x.length - 1;
      if (!wellFormed(f) || !wellFormed(g) || !filterCovered(f, g)) return;
      const tp = t.join("/");
      if (topicMatches(f, tp)) assert.ok(topicMatches(g, tp), `${f} covered by ${g} but ${tp}`);
    }),
  );
});
