#!/usr/bin/env node
// `npm start`: builds fleet, then runs a local demo cluster on loopback, secure as a real one —
// the first manager founds the cluster (`--init`: root CA, join tokens), two more join with the
// manager token, and three edge agents join with the worker token (each with its own data dir
// and labels: one `storage=ssd`, one labelled as an arm64 board, one plain); every connection
// is TLS with certificates from the cluster's CA. It deploys a sample service pinned to the ssd
// agent and a global service, and waits for both to converge. It stays in the foreground;
// Ctrl-C stops every process it started and removes the demo's containers.
// `npm start -- --check` exits 0 once everything converged (1 otherwise): the test of this demo.

import { spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBusyboxImage } from "./busybox-image.mjs";
import { freePort } from "./free-port.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const state = join(root, ".fleet-demo");
const IMAGE = "fleet-demo/busybox:latest";
const children = [];

function say(line) {
  console.log(`demo: ${line}`);
}

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: "utf8", ...opts });
}

function fleet(m1, ...args) {
  return run(process.execPath, [join(root, "dist/fleet.mjs"), "--host", `unix://${m1}`, ...args]);
}

const AGENTS = ["edge-ssd", "edge-arm64", "edge-plain"];

/** The node ids the agents got when they joined (from their agent.json). */
function agentNodeIds() {
  const ids = [];
  for (const name of AGENTS) {
    try {
      ids.push(JSON.parse(readFileSync(join(state, name, "agent.json"), "utf8")).nodeId);
    } catch {
      // not joined (yet)
    }
  }
  return ids.filter((id) => typeof id === "string");
}

/** The demo's containers carry their agent's node id (the agent labels every container). */
function removeContainers() {
  for (const node of agentNodeIds()) {
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
  const managerArgs = (m) => [
    join(root, "dist/manager.mjs"),
    "--data-dir",
    m.dir,
    "--raft-port",
    String(m.raft),
    "--broker-port",
    String(m.broker),
    "--hostname",
    `manager-${m.i}`,
  ];
  // The first manager founds the cluster: root CA, join tokens, its own certificate.
  start("manager-1", [...managerArgs(managers[0]), "--init"]);
  const sock = join(managers[0].dir, "fleet.sock");
  const token = (role) => fleet(sock, "join-token", role, "-q").stdout?.trim();
  await waitFor("the cluster founded", () => /^FLT1-/.test(token("manager") ?? ""));
  say("cluster founded (root CA and join tokens made)");
  // Two more managers join with the manager token, through the first one's broker.
  const joinAddr = `127.0.0.1:${managers[0].broker}`;
  for (const m of managers.slice(1))
    start(`manager-${m.i}`, [
      ...managerArgs(m),
      "--join",
      token("manager"),
      "--join-addr",
      joinAddr,
    ]);
  await waitFor(
    "three managers",
    () => (fleet(sock, "node", "ls").stdout?.match(/Leader|Reachable/g)?.length ?? 0) === 3,
  );
  say("three managers are up (joined by token; Raft, brokers and API over mutual TLS)");
  const workerToken = token("worker");
  const brokers = managers.flatMap((m) => ["--broker", `mqtts://127.0.0.1:${m.broker}`]);
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
      // A first start with a join token: the agent joins (its key made here), then runs.
      "--token",
      workerToken,
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
  say("three agents joined with the worker token");
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
  say("      node dist/fleet.mjs join-token worker   (how more agents join)");
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
