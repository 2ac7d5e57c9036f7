// External broker mode end to end: three secure managers (the built bundle) with `--broker`, two
// real agents (bundle, real Docker), all through one real mosquitto configured by `fleet
// broker-config mosquitto` and kept current by its `--watch --reload-cmd` (SIGHUP). No manager
// opens a broker port. The first manager starts before mosquitto (its leader waits for it);
// the others join by token through mosquitto's join listener, as do the agents, whose broker
// list is then the certificate listener alone. A service with replicas runs on the agents;
// `fleet service logs` reads them through mosquitto; the leader is killed and the new one
// scales the service; `node rm` of an agent makes the watcher rewrite the CRL and ACL and
// mosquitto refuses that agent's certificate. Processes stopped by pid, containers by label.

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  canConnect,
  ensureTestImage,
  freePort,
  need,
  removeTestContainers,
  TEST_LABEL,
} from "../support/real.ts";
import { Agents, buildBundle, runningTasks, scale } from "./agents.ts";
import { Managers } from "./managers.ts";

const FLEET = join(dirname(fileURLToPath(import.meta.url)), "../../dist/fleet.mjs");
const VALUE = `ext-broker-${process.pid}`;
const c = new Managers({ bundle: true });
const agents = new Agents(c);
const procs: ChildProcess[] = [];
after(async () => {
  for (const p of procs.reverse()) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await exited;
  }
  await agents.close();
  await c.close();
  removeTestContainers(VALUE);
});

/** `fleet ARGS` (the bundle) against a manager's unix socket. */
function fleet(id: number, args: string[]) {
  const socket = join(c.members.get(id)!.dir, "fleet.sock");
  const env: NodeJS.ProcessEnv = { ...process.env, FLEET_HOST: `unix://${socket}` };
  delete env.NODE_TEST_CONTEXT;
  return spawnSync(process.execPath, [FLEET, ...args], { env, encoding: "utf8", timeout: 60_000 });
}

/** A long-running `fleet` (the watcher), its output kept. */
function fleetBg(id: number, args: string[]) {
  const socket = join(c.members.get(id)!.dir, "fleet.sock");
  const env: NodeJS.ProcessEnv = { ...process.env, FLEET_HOST: `unix://${socket}` };
  delete env.NODE_TEST_CONTEXT;
  const p = spawn(process.execPath, [FLEET, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  procs.push(p);
  const out = { text: "" };
  const keep = (d: Buffer) => {
    out.text = (out.text + d).slice(-20_000);
  };
  p.stdout?.on("data", keep);
  p.stderr?.on("data", keep);
  return out;
}

/** mosquitto_pub with a node's certificate (exit 0: the broker admitted it and took the QoS 1
 * publish). */
function pubAs(dir: string, clusterId: string, nodeId: string, port: number) {
  const certs = join(dir, "certs");
  return spawnSync(
    "mosquitto_pub",
    [
      ...["--cafile", join(certs, "ca.pem"), "--cert", join(certs, "node.pem")],
      ...["--key", join(certs, "node.key"), "--tls-version", "tlsv1.3", "-h", "127.0.0.1"],
      ...["-p", String(port), "-i", `probe-${nodeId}`, "-q", "1", "-m", "x"],
      ...["-t", `fleet/${clusterId}/n/${nodeId}/logs/probe`],
    ],
    { encoding: "utf8", timeout: 15_000 },
  );
}

test("three managers and two agents through one real mosquitto", async (t) => {
  if (!need(t, "mosquitto", "docker", "busybox")) return;
  buildBundle();
  const image = ensureTestImage();
  await c.init(3);
  const [port, joinPort] = [await freePort(), await freePort()];
  const broker = ["--broker", `mqtts://127.0.0.1:${port}`];
  const mq = join(c.root, "mosquitto");
  const pidFile = join(mq, "mosquitto.pid");

  // The first manager starts before the broker exists: its leader keeps trying.
  c.startInit(1, { extra: broker });
  await c.leader(60_000);
  const tokens = await c.waitFor("the join tokens", async () => {
    const r = await c.api<{ worker?: string; manager?: string }>(1, "GET", "/v1/join-tokens");
    return r.status === 200 && r.body.worker
      ? (r.body as { worker: string; manager: string })
      : undefined;
  });
  const clusterId = (await c.api<{ id: string }>(1, "GET", "/v1/cluster")).body.id;
  assert.ok(
    !(await canConnect(c.members.get(1)!.brokerPort)),
    "no embedded broker port in external mode",
  );

  // The operator writes mosquitto's files from the cluster and starts it.
  const gen = fleet(1, [
    ...["broker-config", "mosquitto", "--out", mq, "--port", String(port)],
    ...["--join-port", String(joinPort), "--bind", "127.0.0.1"],
  ]);
  assert.equal(gen.status, 0, gen.stderr);
  // Test only: stay the current user (as root mosquitto would switch to `mosquitto`).
  appendFileSync(join(mq, "mosquitto.conf"), `user ${userInfo().username}\n`);
  let mlog = "";
  const startMosquitto = () => {
    const p = spawn("mosquitto", ["-c", join(mq, "mosquitto.conf")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    procs.push(p);
    p.stderr?.on("data", (d) => {
      mlog = (mlog + d).slice(-10_000);
    });
    writeFileSync(pidFile, String(p.pid));
    return p;
  };
  let mosquitto = startMosquitto();
  await c.waitFor(
    `mosquitto up (${mlog})`,
    async () => (await canConnect(port)) && canConnect(joinPort),
  );
  await c.waitFor("the leader retried until the broker came", async () =>
    c.members.get(1)!.log.includes("broker reachable again"),
  );

  // Managers 2 and 3 join by token through mosquitto's join listener.
  c.startJoin(2, tokens.manager, `127.0.0.1:${joinPort}`, { extra: broker });
  const managerIds = async (id: number) => {
    const r = await c.api<{ id: string; managerStatus?: unknown }[]>(id, "GET", "/v1/nodes");
    return r.body.filter((n) => n.managerStatus).map((n) => n.id);
  };
  await c.waitFor("manager 2 registered", async () => (await managerIds(1)).length === 2, 60_000);
  // The watcher keeps acl and crl.pem current and SIGHUPs mosquitto; it talks to a manager
  // other than the leader (which is killed below).
  const leader1 = await c.leader();
  const watchVia = leader1 === 1 ? 2 : 1;
  const watch = fleetBg(watchVia, [
    ...["broker-config", "mosquitto", "--out", mq, "--port", String(port)],
    ...["--join-port", String(joinPort), "--bind", "127.0.0.1", "--watch", "--admin", "ops"],
    ...["--reload-cmd", `kill -HUP $(cat ${pidFile})`],
  ]);
  c.startJoin(3, tokens.manager, `127.0.0.1:${joinPort}`, { extra: broker });
  const all = await c.waitFor(
    "manager 3 registered",
    async () => {
      const ids = await managerIds(watchVia);
      return ids.length === 3 ? ids : undefined;
    },
    60_000,
  );
  await c.waitFor(`the ACL names all three managers (watcher: ${watch.text})`, async () => {
    const acl = readFileSync(join(mq, "acl"), "utf8");
    return all.every((id) => acl.includes(`user ${id}\n`)) && watch.text.includes("reloaded");
  });

  // Two agents join through the join listener; their broker list is the certificate listener.
  for (const name of ["a", "b"]) {
    agents.add(name, { heartbeatMs: 500, pollMs: 500, offlineAfterMs: 5000 });
    await agents.join(name, tokens.worker, [`127.0.0.1:${joinPort}`]);
    const saved = JSON.parse(readFileSync(join(agents.get(name).dir, "agent.json"), "utf8"));
    assert.deepEqual(saved.brokers, [`mqtts://127.0.0.1:${port}`]);
    // The join listener is kept apart, for re-enrolment after an expiry only.
    assert.deepEqual(saved.joinBrokers, [`mqtts://127.0.0.1:${joinPort}`]);
    agents.start(name);
  }
  await agents.until("both agents ready nodes", async () => {
    const r = await c.api<{ id: string; status: { state: string } }[]>(leader1, "GET", "/v1/nodes");
    const ready = new Set(r.body.filter((n) => n.status.state === "ready").map((n) => n.id));
    return ready.has(agents.get("a").nodeId) && ready.has(agents.get("b").nodeId);
  });
  const created = await c.api<{ id: string }>(leader1, "POST", "/v1/services/create", {
    name: "web",
    mode: { replicated: { replicas: 2 } },
    taskTemplate: {
      containerSpec: {
        image,
        command: ["sh", "-c", "echo via-mosquitto-$HOSTNAME; sleep 3600"],
        labels: { [TEST_LABEL]: VALUE },
        stopGracePeriodMs: 1000,
      },
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await agents.until(
    "a replica running on each agent",
    () => agents.running("a").length === 1 && agents.running("b").length === 1,
    60_000,
  );

  // Service logs through mosquitto, asked of a follower.
  await agents.until("fleet service logs through the external broker", () => {
    const r = fleet(watchVia, ["service", "logs", "--tail", "5", "web"]);
    agents.note = `${r.status} ${r.stdout} ${r.stderr}`;
    return r.status === 0 && (r.stdout.match(/via-mosquitto-/g) ?? []).length === 2;
  });

  // An operator's `fleet monitor` (admin certificate) reads the leader's state topics there.
  const ops = join(c.root, "ops");
  const admin = fleet(watchVia, ["ca", "issue-admin", "ops", "--out", ops]);
  assert.equal(admin.status, 0, admin.stderr);
  const mon = fleet(watchVia, [
    ...["monitor", "--broker", `mqtts://127.0.0.1:${port}`, "--cluster", clusterId],
    ...[
      "--ca",
      join(ops, "ca.pem"),
      "--cert",
      join(ops, "cert.pem"),
      "--key",
      join(ops, "key.pem"),
    ],
    ...["--json", "--count", "2"],
  ]);
  assert.equal(mon.status, 0, `${mon.stdout}\n${mon.stderr}`);
  assert.match(mon.stdout, new RegExp(`fleet/${clusterId}/state/`));

  // The leader dies: a new one (already in the ACL) keeps dispatching.
  await c.kill(leader1);
  const leader2 = await c.leader(60_000, leader1);
  await scale(c, leader2, "web", 4);
  await agents.until(
    "four replicas running after the failover",
    async () => (await runningTasks(c, leader2, "web")).length === 4,
    60_000,
  );
  assert.equal(agents.running("a").length + agents.running("b").length, 4);

  // The broker goes away and comes back: the leader's sessions and the agents recover.
  const down = new Promise((r) => mosquitto.once("exit", r));
  mosquitto.kill("SIGTERM");
  await down;
  // The watcher rewrote mosquitto.conf; test only: stay the current user again.
  appendFileSync(join(mq, "mosquitto.conf"), `user ${userInfo().username}\n`);
  await new Promise((r) => setTimeout(r, 1000)); // a real outage, not a blink
  mosquitto = startMosquitto();
  await scale(c, leader2, "web", 2);
  await agents.until(
    "scaled back to two replicas through the restarted broker",
    async () =>
      (await runningTasks(c, leader2, "web")).length === 2 &&
      agents.running("a").length + agents.running("b").length === 2,
    60_000,
  );

  // `node rm` of agent b: the watcher rewrites CRL and ACL, mosquitto refuses b's certificate.
  const b = agents.get("b");
  const before = pubAs(b.dir, clusterId, b.nodeId, port);
  assert.equal(before.status, 0, `b's certificate admitted before removal: ${before.stderr}`);
  const reloads = (watch.text.match(/reloaded/g) ?? []).length;
  const rm = await c.api(leader2, "DELETE", `/v1/nodes/${b.nodeId}?force=true`);
  assert.equal(rm.status, 200, JSON.stringify(rm.body));
  await agents.until(`the watcher reloaded mosquitto after the removal (${watch.text})`, () => {
    const acl = readFileSync(join(mq, "acl"), "utf8");
    return (
      acl.includes(`user ${b.nodeId}\ntopic deny fleet/#`) &&
      (watch.text.match(/reloaded/g) ?? []).length > reloads
    );
  });
  await agents.until("mosquitto refuses the removed agent's certificate", () => {
    const r = pubAs(b.dir, clusterId, b.nodeId, port);
    agents.note = `${r.status} ${r.stderr}`;
    return r.status !== 0;
  });
  // The other agent is unaffected.
  assert.equal(pubAs(agents.get("a").dir, clusterId, agents.get("a").nodeId, port).status, 0);
  assert.ok(existsSync(join(mq, "crl.pem")));
});
