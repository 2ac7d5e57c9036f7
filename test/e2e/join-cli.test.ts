// The operator's side of growing a cluster, with real processes: `fleet init`, `fleet join`
// and `fleet leave` through the CLI's built-in launcher (detached daemons, pid and log files in
// the data dir), a worker token on a full install (the edge agent runs here), and the
// `--insecure` development path (the same join over plain MQTT).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ensureTestImage, freePort, need } from "../support/real.ts";
import { buildBundle } from "./agents.ts";
import { Managers } from "./managers.ts";

test("fleet init, fleet join and fleet leave run and stop the daemon (the CLI's launcher)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-cli-join-"));
  const cli = join(import.meta.dirname, "../../manager/cli/main.ts");
  const fleet = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", cli, ...args], {
      encoding: "utf8",
      timeout: 120_000,
    });
  const pids = () =>
    ["a", "b"].flatMap((m) => {
      try {
        return [Number(readFileSync(join(dir, m, "manager.pid"), "utf8"))];
      } catch {
        return [];
      }
    });
  t.after(() => {
    for (const pid of pids()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const [ra, ba, rb, bb] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const a = join(dir, "a");
  const init = fleet(
    "init",
    "--data-dir",
    a,
    "--listen-addr",
    `127.0.0.1:${ra}`,
    "--broker-addr",
    `127.0.0.1:${ba}`,
  );
  assert.equal(init.status, 0, init.stderr);
  const managerJoin = /fleet join --token (FLT1-\S+) (\S+)/.exec(init.stdout);
  assert.ok(managerJoin, init.stdout);
  assert.match(init.stdout, /edge-agent join --token FLT1-\S+ .*127\.0\.0\.1:/);
  const again = fleet("init", "--data-dir", a, "--listen-addr", `127.0.0.1:${ra}`);
  assert.notEqual(again.status, 0);
  assert.match(again.stderr, /already holds a manager/);
  const b = join(dir, "b");
  const joined = fleet(
    "join",
    "--token",
    managerJoin[1]!,
    "--data-dir",
    b,
    "--listen-addr",
    `127.0.0.1:${rb}`,
    "--broker-addr",
    `127.0.0.1:${bb}`,
    managerJoin[2]!,
  );
  assert.equal(joined.status, 0, joined.stderr);
  assert.match(joined.stdout, /joined the cluster as a manager/);
  // The joined manager shows as Reachable once it has registered itself (just after join).
  let ls = "";
  for (let i = 0; i < 60; i++) {
    ls = fleet("node", "ls", "--host", `unix://${join(a, "fleet.sock")}`).stdout;
    if ((ls.match(/Leader|Reachable/g) ?? []).length === 2) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal((ls.match(/Leader|Reachable/g) ?? []).length, 2, ls);
  const left = fleet("leave", "--data-dir", b);
  assert.equal(left.status, 0, left.stderr);
  assert.ok(!existsSync(b), "leave removed the data dir");
  const last = fleet("leave", "--data-dir", a);
  assert.notEqual(last.status, 0);
  assert.match(last.stderr, /last manager/);
  const forced = fleet("leave", "--data-dir", a, "--force");
  assert.equal(forced.status, 0, forced.stderr);
  assert.deepEqual(pids(), []);
});

test("--insecure: init and join by token over plain MQTT (loopback development)", async (t) => {
  const c = new Managers();
  t.after(() => c.close());
  await c.init(2);
  c.startInit(1, { insecure: true });
  const tokens = await c.waitFor("the insecure cluster's tokens", () => c.joinTokens(1), 60_000);
  c.startJoin(2, tokens.manager, 1, { insecure: true });
  await c.waitFor(
    "two managers ready",
    async () => {
      const r = await c.api<{ managerStatus?: unknown; status: { state: string } }[]>(
        1,
        "GET",
        "/v1/nodes",
      );
      return r.body.filter((n) => n.managerStatus && n.status.state === "ready").length === 2;
    },
    60_000,
  );
  const created = await c.api(2, "POST", "/v1/services/create", {
    name: "plain",
    mode: { replicated: { replicas: 1 } },
    taskTemplate: { containerSpec: { image: "busybox" } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
});

test("fleet join with a worker token runs the edge agent here; fleet leave stops it and removes its containers", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  const image = ensureTestImage();
  buildBundle(); // dist/fleet.mjs next to dist/edge-agent.mjs: a full install
  const dir = mkdtempSync(join(tmpdir(), "fleet-cli-worker-"));
  const cli = join(import.meta.dirname, "../../dist/fleet.mjs");
  const fleet = (...args: string[]) =>
    spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 150_000 });
  const a = join(dir, "a");
  const w = join(dir, "w");
  let nodeId = "";
  t.after(() => {
    for (const f of [join(a, "manager.pid"), join(w, "agent.pid")]) {
      try {
        process.kill(Number(readFileSync(f, "utf8")), "SIGKILL");
      } catch {}
    }
    if (nodeId) removeNodeContainers(nodeId);
    rmSync(dir, { recursive: true, force: true });
  });
  const [ra, ba] = [await freePort(), await freePort()];
  const init = fleet(
    "init",
    "--data-dir",
    a,
    "--listen-addr",
    `127.0.0.1:${ra}`,
    "--broker-addr",
    `127.0.0.1:${ba}`,
  );
  assert.equal(init.status, 0, init.stderr);
  const worker = /edge-agent join --token (FLT1-\S+) --data-dir \S+ (\S+)/.exec(init.stdout);
  assert.ok(worker, init.stdout);
  const joined = fleet("join", "--token", worker[1]!, "--data-dir", w, worker[2]!);
  assert.equal(joined.status, 0, joined.stderr);
  const said = /This node \((\S+)\) joined the cluster as a worker/.exec(joined.stdout);
  assert.ok(said, joined.stdout);
  nodeId = said[1]!;
  assert.ok(existsSync(join(w, "certs", "node.pem")), "the agent's certificate is in the data dir");
  assert.ok(!existsSync(join(w, "manager.json")), "no manager state left from the first attempt");
  const host = ["--host", `unix://${join(a, "fleet.sock")}`];
  const again = fleet("join", "--token", worker[1]!, "--data-dir", w, worker[2]!);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already holds an edge agent/);

  const created = fleet(
    ...host,
    "service",
    "create",
    "--name",
    "onw",
    "--constraint",
    "node.role==worker",
    image,
    "sleep",
    "600",
  );
  assert.equal(created.status, 0, created.stderr);
  let ps = "";
  for (let i = 0; i < 120 && !ps; i++) {
    ps = spawnSync("docker", ["ps", "-q", "--filter", `label=fleet.node.id=${nodeId}`], {
      encoding: "utf8",
    }).stdout.trim();
    if (!ps) await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(ps, "the service's container runs on the worker that joined with `fleet join`");

  const agentPid = Number(readFileSync(join(w, "agent.pid"), "utf8"));
  const left = fleet("leave", "--data-dir", w);
  assert.equal(left.status, 0, left.stderr);
  assert.match(left.stdout, /Node left the cluster/);
  assert.throws(() => process.kill(agentPid, 0), "the agent process is gone");
  assert.ok(!existsSync(w), "leave removed the agent's data dir");
  const rest = spawnSync("docker", ["ps", "-aq", "--filter", `label=fleet.node.id=${nodeId}`], {
    encoding: "utf8",
  });
  assert.equal(rest.stdout.trim(), "", "leave removed the node's containers");
});

function removeNodeContainers(nodeId: string): void {
  const ids = spawnSync("docker", ["ps", "-aq", "--filter", `label=fleet.node.id=${nodeId}`], {
    encoding: "utf8",
  })
    .stdout.split("\n")
    .filter(Boolean);
  if (ids.length > 0) spawnSync("docker", ["rm", "-f", ...ids]);
}
