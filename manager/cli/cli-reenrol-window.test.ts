// `fleet cluster update --reenrol-window DURATION` through the real API over its socket: the
// store's cluster spec takes the value, `fleet cluster inspect` shows it (30 days for a cluster
// object written before the setting), and bad values are refused with the field named.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DAY_MS } from "../../core/model/defaults.ts";
import { ApiServer } from "../api/server.ts";
import { testWorld } from "../api/testing.ts";
import { fleet } from "./testing.ts";

test("cluster update --reenrol-window: stored, shown by inspect, checked", async () => {
  const w = testWorld();
  // A cluster object from before the setting: no reenrolWindowMs at all.
  w.store.update((tx) => {
    const c = tx.get("clusters", "c1")!;
    const { reenrolWindowMs: _, ...spec } = c.spec;
    tx.update("clusters", { ...c, spec });
  });
  const stored = () => w.store.view((tx) => tx.get("clusters", "c1"))!.spec.reenrolWindowMs;
  assert.equal(stored(), undefined);
  const dir = mkdtempSync(join(tmpdir(), "fleet-cli-window-"));
  const socket = join(dir, "fleet.sock");
  const api = new ApiServer(w.ctx, { socketPath: socket });
  await api.start();
  const run = (...a: string[]) => fleet(a, { socket });
  const shown = async () =>
    JSON.parse((await run("cluster", "inspect")).stdout).spec.reenrolWindowMs;
  try {
    assert.equal(await shown(), 30 * DAY_MS, "the default is shown for an old cluster");
    const up = await run("cluster", "update", "--reenrol-window", "48h");
    assert.equal(up.code, 0, up.stderr);
    assert.equal(stored(), 2 * DAY_MS);
    assert.equal(await shown(), 2 * DAY_MS);
    const off = await run("cluster", "update", "--reenrol-window", "0");
    assert.equal(off.code, 0, off.stderr);
    assert.equal(stored(), 0);

    const long = await run("cluster", "update", "--reenrol-window", "8761h");
    assert.equal(long.code, 1);
    assert.match(long.stderr, /reenrolWindowMs: must be at most 31536000000/);
    const days = await run("cluster", "update", "--reenrol-window", "3d");
    assert.equal(days.code, 2, days.stderr);
    assert.match(days.stderr, /--reenrol-window: "3d" is not a duration/);
    assert.equal(stored(), 0, "a refused update changes nothing");
    // Other settings keep the window as it is.
    const hb = await run("cluster", "update", "--heartbeat-period", "2s");
    assert.equal(hb.code, 0, hb.stderr);
    assert.equal(stored(), 0);
  } finally {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
