// Sealed gossip end to end: a real secure manager founded with --init (its cluster object is born
// with a gossip key ring), two bundled agents joined with the worker token and run from their
// data dirs; each learns the ring from its assignment, and `edge-agent peers` shows the other.
// A rotation with no grace reaches both agents, which then hear each other under the new key.
// The API never shows key bytes.

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { freePort, need } from "../support/real.ts";
import { buildBundle } from "./agents.ts";
import { Managers } from "./managers.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const BUNDLE = join(root, "dist/edge-agent.mjs");
const MANAGER = join(root, "manager/main.ts");
const dir = mkdtempSync(join(tmpdir(), "fleet-e2e-gossip-"));
const c = new Managers();
const procs: ChildProcess[] = [];
after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  await c.close();
  rmSync(dir, { recursive: true, force: true });
});

function spawnLogged(args: string[]) {
  const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(p);
  let out = "";
  const keep = (b: Buffer) => {
    out = (out + b).slice(-20_000);
  };
  p.stdout?.on("data", keep);
  p.stderr?.on("data", keep);
  const exit = new Promise<number>((r) => p.once("exit", (code) => r(code ?? -1)));
  return { p, out: () => out, exit };
}

async function startSecureManager(): Promise<number> {
  const m = {
    raftId: 1,
    raftPort: await freePort(),
    brokerPort: await freePort(),
    dir: join(c.root, "m1"),
    log: "",
  };
  c.members.set(1, m);
  const args = ["--import", "tsx", MANAGER, "--data-dir", m.dir, "--init"];
  args.push("--raft-port", String(m.raftPort), "--broker-port", String(m.brokerPort));
  args.push("--tick-ms", "50", "--hostname", "manager-1");
  const p = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  Object.assign(m, { proc: p });
  p.stderr?.on("data", (d) => {
    m.log = (m.log + String(d)).slice(-30_000);
  });
  await c.leader(60_000);
  return m.brokerPort;
}

interface PeerRow {
  nodeId: string;
  keyId: number;
}

function peers(data: string): PeerRow[] {
  const r = spawnSync(process.execPath, [BUNDLE, "peers", "--data-dir", data, "--json"], {
    encoding: "utf8",
  });
  if (r.status !== 0) return [];
  return (JSON.parse(r.stdout) as { peers: PeerRow[] }).peers;
}

type ClusterView = { gossipKeys?: { current: number; keys: { id: number }[] } };

test("joined agents gossip under the cluster's key and follow a rotation", async (t) => {
  if (!need(t, "docker")) return;
  buildBundle();
  const brokerPort = await startSecureManager();
  const born = await c.waitFor(
    "the cluster object with its gossip ring",
    async () => {
      const r = await c.api<ClusterView>(1, "GET", "/v1/cluster");
      return r.status === 200 && r.body.gossipKeys ? r.body.gossipKeys : undefined;
    },
    60_000,
  );
  assert.equal(born.current, 1, "made at founding");
  const tokens = await c.waitFor(
    "the join tokens",
    async () => {
      const r = await c.api<{ worker?: string }>(1, "GET", "/v1/join-tokens");
      return r.status === 200 && r.body.worker ? r.body : undefined;
    },
    60_000,
  );
  const manager = `127.0.0.1:${brokerPort}`;
  const boards = ["a", "b"].map((n) => join(dir, n));
  const ids: string[] = [];
  for (const data of boards) {
    const j = spawnLogged([BUNDLE, "join", "--token", tokens.worker!, "--data-dir", data, manager]);
    assert.equal(await j.exit, 0, j.out());
    ids.push(JSON.parse(readFileSync(join(data, "agent.json"), "utf8")).nodeId);
  }
  const runs = boards.map((data) => spawnLogged([BUNDLE, "run", "--data-dir", data]));
  const logs = () => runs.map((r) => r.out()).join("\n--- agent\n");
  const hears = (i: number, keyId: number) =>
    peers(boards[i]!).some((p) => p.nodeId === ids[1 - i] && p.keyId === keyId);

  await c
    .waitFor(
      "each agent hears the other under key 1",
      async () => hears(0, 1) && hears(1, 1),
      90_000,
    )
    .catch((err) => assert.fail(`${err.message}\n${logs()}`));

  const rotated = await c.api<{ current: number }>(
    1,
    "POST",
    "/v1/cluster/gossip-key/rotate?graceMs=0",
  );
  assert.equal(rotated.status, 200);
  assert.equal(rotated.body.current, 2);
  await c
    .waitFor(
      "each agent hears the other under key 2",
      async () => hears(0, 2) && hears(1, 2),
      60_000,
    )
    .catch((err) => assert.fail(`${err.message}\n${logs()}`));

  // Key bytes never leave the managers but in assignments: not in the API's cluster view.
  const view = await c.api<ClusterView>(1, "GET", "/v1/cluster");
  assert.deepEqual(
    view.body.gossipKeys?.keys.map((k) => k.id),
    [2],
  );
  assert.doesNotMatch(JSON.stringify(view.body), /"key"/);
  for (const r of runs) r.p.kill("SIGTERM");
  await Promise.all(runs.map((r) => r.exit));
});
