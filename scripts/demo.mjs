#!/usr/bin/env node
// `npm start`: builds fleet, then runs a local demo cluster on loopback — three managers (one
// Raft group, brokers in a mesh) and three edge agents with their own data dirs and labels (one
// `storage=ssd`, one labelled as an arm64 board, one plain) — deploys a sample service pinned to
// the ssd agent and a global service, and waits for both to converge. It stays in the
// foreground; Ctrl-C stops every process it started and removes the demo's containers.
// `npm start -- --check` exits 0 once everything converged (1 otherwise): the test of this demo.

import { spawn, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBusyboxImage } from "./busybox-image.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const state = join(root, ".fleet-demo");
const IMAGE = "fleet-demo/busybox:latest";
const children = [];

function say(line) {
  console.log(`demo: ${line}`);
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: "utf8", ...opts });
}

function fleet(m1, ...args) {
  return run(process.execPath, [join(root, "dist/fleet.mjs"), "--host", `unix://${m1}`, ...args]);
}

const AGENTS = ["edge-ssd", "edge-arm64", "edge-plain"];

/** The demo's containers carry their agent's node id (the agent labels every container). */
function removeContainers() {
  for (const node of AGENTS) {
    const out =
      run("docker", ["ps", "-aq", "--filter", `label=fleet.node.id=${node}`]).stdout ?? "";
    const ids = out.split("\n").filter(Boolean);
    if (ids.length > 0) run("docker", ["rm", "-f", ...ids]);
  }
}

function start(name, args) {
  const p = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  p.stderr.on("data", (d) => {
    log = (log + d).slice(-8000);
  });
  children.push({ name, p, log: () => log });
  return p;
}

async function waitFor(what, fn, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function stopAll() {
  for (const { p } of children) if (p.exitCode === null) p.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 1500));
  for (const { p } of children) if (p.exitCode === null) p.kill("SIGKILL");
  removeContainers();
}

async function main() {
  if (run("docker", ["info"]).status !== 0) {
    throw new Error(
      "no Docker engine is reachable: the agents run containers through it (start dockerd)",
    );
  }
  say("building");
  if (run(process.execPath, [join(root, "scripts/build.mjs")], { stdio: "inherit" }).status !== 0)
    throw new Error("build failed");
  ensureBusyboxImage(IMAGE);
  removeContainers();
  rmSync(state, { recursive: true, force: true });
  const managers = [];
  for (let i = 1; i <= 3; i++)
    managers.push({
      i,
      raft: await freePort(),
      broker: await freePort(),
      dir: join(state, `manager-${i}`),
    });
  const initial = managers.map((m) => `${m.i}=127.0.0.1:${m.raft}`).join(",");
  for (const m of managers) {
    start(`manager-${m.i}`, [
      join(root, "dist/manager.mjs"),
      "--data-dir",
      m.dir,
      "--initial-cluster",
      initial,
      "--raft-id",
      String(m.i),
      "--cluster-id",
      "demo",
      "--insecure",
      "--raft-port",
      String(m.raft),
      "--broker-port",
      String(m.broker),
      "--hostname",
      `manager-${m.i}`,
    ]);
  }
  const sock = join(managers[0].dir, "fleet.sock");
  await waitFor(
    "a leader",
    () =>
      fleet(sock, "node", "ls").stdout?.includes("Leader") ||
      fleet(sock, "node", "ls", "-q").status === 0,
  );
  say("three managers are up");
  const brokers = managers.flatMap((m) => ["--broker", `mqtt://127.0.0.1:${m.broker}`]);
  const agents = [
    { name: "edge-ssd", labels: ["storage=ssd"] },
    { name: "edge-arm64", labels: ["board=arm64-sim"] },
    { name: "edge-plain", labels: [] },
  ];
  agents.forEach((a, k) => {
    // Each agent prefers a different manager first; all know every broker for failover.
    const order = [...brokers.slice(2 * k), ...brokers.slice(0, 2 * k)];
    start(a.name, [
      join(root, "dist/edge-agent.mjs"),
      "run",
      "--data-dir",
      join(state, a.name),
      "--cluster",
      "demo",
      "--node-id",
      a.name,
      "--hostname",
      a.name,
      ...order,
      ...a.labels.flatMap((l) => ["--label", l]),
    ]);
  });
  await waitFor(
    "three agents registered",
    () => (fleet(sock, "node", "ls").stdout?.match(/edge-/g)?.length ?? 0) >= 3,
  );
  say("three agents joined");
  const created = [
    fleet(
      sock,
      "service",
      "create",
      "-d",
      "--name",
      "hello",
      "--replicas",
      "2",
      "--constraint",
      "engine.labels.storage==ssd",
      IMAGE,
      "sleep",
      "3600",
    ),
    fleet(
      sock,
      "service",
      "create",
      "-d",
      "--name",
      "probe",
      "--mode",
      "global",
      IMAGE,
      "sleep",
      "3600",
    ),
  ];
  for (const r of created)
    if (r.status !== 0) throw new Error(`service create failed: ${r.stderr || r.stdout}`);
  await waitFor(
    "the services to converge",
    () => {
      const out = fleet(sock, "service", "ls").stdout ?? "";
      return /hello\s+replicated\s+2\/2/.test(out) && /probe\s+global\s+3\/3/.test(out);
    },
    120_000,
  );
  console.log(fleet(sock, "service", "ls").stdout);
  console.log(fleet(sock, "service", "ps", "hello").stdout);
  const where = fleet(sock, "service", "ps", "hello").stdout ?? "";
  if ((where.match(/edge-ssd/g)?.length ?? 0) !== 2)
    throw new Error("hello's tasks are not both on the ssd agent");
  say(
    "converged: hello runs only on edge-ssd (constraint engine.labels.storage==ssd), probe on every agent",
  );
  if (check) return;
  say(`try:  export FLEET_HOST=unix://${sock}`);
  say("      node dist/fleet.mjs node ls;  node dist/fleet.mjs service ps hello");
  say(
    `      node dist/fleet.mjs monitor --broker mqtt://127.0.0.1:${managers[0].broker} --cluster demo`,
  );
  say("Ctrl-C stops the demo");
  await new Promise((r) => {
    process.once("SIGINT", r);
    process.once("SIGTERM", r);
  });
}

main()
  .then(async () => {
    await stopAll();
    process.exit(0);
  })
  .catch(async (err) => {
    console.error(`demo: ${err.message}`);
    for (const c of children) console.error(`--- ${c.name}\n${c.log().slice(-1500)}`);
    await stopAll();
    process.exit(1);
  });
