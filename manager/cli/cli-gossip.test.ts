// `fleet cluster update --gossip on|off` through the real API over its socket: the store's
// cluster spec takes the value, `fleet cluster inspect` shows it (on for a cluster object written
// before the setting), a bad value is refused, and other updates keep it.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ApiServer } from "../api/server.ts";
import { call, testWorld } from "../api/testing.ts";
import { fleet } from "./testing.ts";

test("cluster update --gossip on|off: stored, shown by inspect, checked", async () => {
  const w = testWorld();
  // A cluster object from before the setting: no gossip field at all.
  w.store.update((tx) => {
    const c = tx.get("clusters", "c1")!;
    const { gossip: _, ...spec } = c.spec;
    tx.update("clusters", { ...c, spec });
  });
  const stored = () => w.store.view((tx) => tx.get("clusters", "c1"))!.spec.gossip;
  assert.equal(stored(), undefined);
  const dir = mkdtempSync(join(tmpdir(), "fleet-cli-gossip-"));
  const socket = join(dir, "fleet.sock");
  const api = new ApiServer(w.ctx, { socketPath: socket });
  await api.start();
  const run = (...a: string[]) => fleet(a, { socket });
  const shown = async () => JSON.parse((await run("cluster", "inspect")).stdout).spec.gossip;
  try {
    assert.equal(await shown(), true, "on is shown for an old cluster");
    const off = await run("cluster", "update", "--gossip", "off");
    assert.equal(off.code, 0, off.stderr);
    assert.equal(stored(), false);
    assert.equal(await shown(), false);

    const bad = await run("cluster", "update", "--gossip", "no");
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--gossip: on or off, not "no"/);
    assert.equal(stored(), false, "a refused update changes nothing");
    // Other settings keep the switch as it is.
    const hb = await run("cluster", "update", "--heartbeat-period", "2s");
    assert.equal(hb.code, 0, hb.stderr);
    assert.equal(stored(), false);

    const on = await run("cluster", "update", "--gossip", "on");
    assert.equal(on.code, 0, on.stderr);
    assert.equal(stored(), true);
    assert.equal(await shown(), true);
  } finally {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the API refuses a gossip value that is not a boolean, naming the field", async () => {
  const w = testWorld();
  const api = new ApiServer(w.ctx);
  const cur = w.store.view((tx) => tx.get("clusters", "c1"))!;
  const r = await call(api, "POST", `/v1/cluster/update?version=${cur.version}`, {
    ...cur.spec,
    gossip: "off",
  });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "invalid_spec");
  assert.deepEqual(
    r.body.error.problems.map((p: { path: string }) => p.path),
    ["gossip"],
  );
  assert.equal(w.store.view((tx) => tx.get("clusters", "c1"))!.spec.gossip, cur.spec.gossip);
});
