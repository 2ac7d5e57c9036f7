// A secure cluster end to end: a real manager founded with --init (TLS broker, client
// certificates, the leader's CA answering joins), the bundled agent joining with the worker
// token from the API, then `run --data-dir D` alone: it connects over mTLS, becomes a ready
// node and runs a service's container on the real Docker engine. A wrong token and the
// manager token are refused by the bundle with exit 1 and nothing written.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  ensureTestImage,
  freePort,
  need,
  removeTestContainers,
  TEST_LABEL,
} from "../support/real.ts";
import { buildBundle, docker, runningTasks } from "./agents.ts";
import { Managers } from "./managers.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const BUNDLE = join(root, "dist/edge-agent.mjs");
const MANAGER = join(root, "manager/main.ts");
const VALUE = `agent-join-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "fleet-e2e-join-"));
const c = new Managers();
const procs: ChildProcess[] = [];
let joinedNode = "";
after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  await c.close();
  removeTestContainers(VALUE);
  if (joinedNode)
    for (const id of docker(["ps", "-aq", "--filter", `label=fleet.node.id=${joinedNode}`])
      .split("\n")
      .filter(Boolean))
      docker(["rm", "-f", id]);
  rmSync(dir, { recursive: true, force: true });
});

function spawnLogged(args: string[]): {
  p: ChildProcess;
  out: () => string;
  exit: Promise<number>;
} {
  const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(p);
  let out = "";
  p.stdout?.on("data", (b) => {
    out = (out + b).slice(-20_000);
  });
  p.stderr?.on("data", (b) => {
    out = (out + b).slice(-20_000);
  });
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

test("an agent joins a secure cluster with the worker token and runs a container", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  buildBundle();
  const image = ensureTestImage();
  const brokerPort = await startSecureManager();
  const tokens = await c.waitFor(
    "the join tokens",
    async () => {
      const r = await c.api<{ worker?: string; manager?: string }>(1, "GET", "/v1/join-tokens");
      return r.status === 200 && r.body.worker ? r.body : undefined;
    },
    60_000,
  );
  const manager = `127.0.0.1:${brokerPort}`;

  // Refusals first: nothing written, exit 1, a typed reason.
  const wrongToken = `${tokens.worker!.slice(0, -4)}0000`;
  for (const [token, code] of [
    [wrongToken, "wrong-token"],
    [tokens.manager!, "refused"],
    // A token of another cluster: the real broker's chain does not match its CA digest.
    [`FLT1-${"0".repeat(64)}-${tokens.worker!.slice(-32)}`, "ca-mismatch"],
  ] as const) {
    const d = join(dir, `refused-${code}-${token.slice(-4)}`);
    const j = spawnLogged([
      BUNDLE,
      "join",
      "--token",
      token,
      "--data-dir",
      d,
      "--rounds",
      "1",
      manager,
    ]);
    assert.equal(await j.exit, 1, j.out());
    assert.match(j.out(), new RegExp(`\\[${code}\\]`));
    assert.equal(existsSync(d), false);
  }

  const data = join(dir, "board");
  const j = spawnLogged([BUNDLE, "join", "--token", tokens.worker!, "--data-dir", data, manager]);
  assert.equal(await j.exit, 0, `${j.out()}\n--- manager\n${c.members.get(1)!.log.slice(-3000)}`);
  const saved = JSON.parse(readFileSync(join(data, "agent.json"), "utf8"));
  assert.equal(saved.brokers[0], `mqtts://${manager}`);
  const nodeId = saved.nodeId as string;
  joinedNode = nodeId;

  const run = spawnLogged([BUNDLE, "run", "--data-dir", data, "--poll-ms", "200"]);
  await c
    .waitFor(
      `node ${nodeId} ready`,
      async () => {
        const r = await c.api<{ id: string; status: { state: string }; spec: { role: string } }[]>(
          1,
          "GET",
          "/v1/nodes",
        );
        const n = r.body.find((x) => x.id === nodeId);
        return n?.status.state === "ready" && n.spec.role === "worker";
      },
      60_000,
    )
    .catch((err) => assert.fail(`${err.message}\n--- agent\n${run.out()}`));

  const created = await c.api<{ id: string }>(1, "POST", "/v1/services/create", {
    name: "joined",
    mode: { replicated: { replicas: 1 } },
    taskTemplate: {
      containerSpec: {
        image,
        command: ["sleep", "3600"],
        labels: { [TEST_LABEL]: VALUE },
        stopGracePeriodMs: 1000,
      },
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const tasks = await c
    .waitFor(
      "the service's task RUNNING on the joined agent",
      async () => {
        const r = await runningTasks(c, 1, "joined");
        return r.length === 1 && r[0]!.nodeId === nodeId ? r : undefined;
      },
      90_000,
    )
    .catch((err) => assert.fail(`${err.message}\n--- agent\n${run.out()}`));
  assert.equal(tasks[0]!.nodeId, nodeId);
  const ps = docker(["ps", "-q", "--filter", `label=fleet.node.id=${nodeId}`]).trim();
  assert.equal(ps.split("\n").filter(Boolean).length, 1, "one container of the joined node runs");

  // A flashed image's first boot: token and managers in the config, `run` joins first.
  const fresh = join(dir, "first-boot");
  mkdirSync(fresh, { recursive: true });
  const flashed = { joinToken: tokens.worker, brokers: [manager], labels: { image: "v1" } };
  writeFileSync(join(fresh, "agent.json"), JSON.stringify(flashed));
  const boot = spawnLogged([BUNDLE, "run", "--data-dir", fresh, "--poll-ms", "200"]);
  const second = await c
    .waitFor(
      "the first-boot agent joined and ready",
      async () => {
        if (!existsSync(join(fresh, "certs", "node.pem"))) return undefined;
        const id = JSON.parse(readFileSync(join(fresh, "agent.json"), "utf8")).nodeId as string;
        const r = await c.api<{ id: string; status: { state: string } }[]>(1, "GET", "/v1/nodes");
        return r.body.find((n) => n.id === id && n.status.state === "ready") ? id : undefined;
      },
      60_000,
    )
    .catch((err) => assert.fail(`${err.message}\n--- agent\n${boot.out()}`));
  assert.notEqual(second, nodeId);
  assert.doesNotMatch(readFileSync(join(fresh, "agent.json"), "utf8"), /FLT1/);
  boot.p.kill("SIGTERM");
  run.p.kill("SIGTERM");
  await Promise.all([boot.exit, run.exit]);
});
