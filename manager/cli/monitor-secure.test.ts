// `fleet monitor` against a manager's broker in secure mode: mqtts with an admin certificate
// reads the state topics (the broker is reached at 127.0.0.1 and named fleet-manager by its
// certificate); a worker certificate may not watch the fleet.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Broker } from "../broker/broker.ts";
import { brokerSecurity } from "../secure.ts";
import { TestCluster, writeTls } from "../secure-testing.ts";
import { fleet } from "./testing.ts";

describe("fleet monitor over mqtts", () => {
  const cluster = new TestCluster("c1");
  const manager = cluster.issue("mgr1", "manager");
  const dir = mkdtempSync(join(tmpdir(), "fleet-monitor-secure-"));
  let broker: Broker;

  before(async () => {
    const { tls, authorizer } = brokerSecurity(cluster.deps(() => manager));
    broker = await Broker.start({ id: "mgr1", tls, authorizer });
    const state = JSON.stringify({ id: "w1", state: "ready" });
    await broker.publish("fleet/c1/state/nodes/w1", state, { qos: 1, retain: true });
  });
  after(async () => {
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const monitor = (name: string, role: "admin" | "worker") => {
    const f = writeTls(dir, name, cluster.issue(name, role));
    return fleet([
      ...["monitor", "--broker", broker.url, "--cluster", "c1", "--count", "1", "--json"],
      ...["--ca", f.ca, "--cert", f.cert, "--key", f.key, "state/#"],
    ]);
  };

  test("an admin certificate reads the state topics", async () => {
    const r = await monitor("ops", "admin");
    assert.equal(r.code, 0, r.stderr);
    const line = JSON.parse(r.stdout.trim().split("\n")[0]!);
    assert.equal(line.topic, "fleet/c1/state/nodes/w1");
    assert.equal(line.retained, true);
  });

  test("a worker certificate may not watch the fleet", async () => {
    const r = await monitor("w1", "worker");
    assert.notEqual(r.code, 0);
    // Refused at CONNECT already: a worker certificate may only use its agent's client id.
    assert.ok(cluster.logged("worker w1 must use client id fleet-agent-w1"));
    assert.match(r.stderr, /cannot reach the MQTT broker|not authori[sz]ed/i);
  });
});
