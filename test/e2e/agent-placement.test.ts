// Real agents (the built bundle) on the real Docker engine under three real manager processes:
// a constraint places tasks only on the matching agent, scaling up and down creates and removes
// containers, a killed container is replaced, and an agent restart adopts its containers (same
// container ids, never restarted). One cluster for the whole file.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ensureTestImage, have, need } from "../support/real.ts";
import {
  Agents,
  buildBundle,
  clusterReady,
  createService,
  docker,
  runningTasks,
  scale,
} from "./agents.ts";
import { Managers } from "./managers.ts";

const c = new Managers({ bundle: true });
const agents = new Agents(c);
let image = "";
let leader = 0;
const real = have("docker") && have("busybox");

before(async () => {
  if (!real) return;
  buildBundle();
  image = ensureTestImage();
  await c.init(3);
  for (const id of [1, 2, 3]) c.start(id);
  // Each agent prefers another manager's broker first; both know all three.
  agents.add("ssd", { labels: { "hw.storage": "ssd" }, brokers: [1, 2, 3] });
  agents.add("plain", { labels: { "hw.storage": "hdd" }, brokers: [2, 3, 1] });
  agents.start("ssd");
  agents.start("plain");
  leader = await clusterReady(c, agents, ["ssd", "plain"]);
});

after(async () => {
  await agents.close();
  await c.close();
});

const sleeper = (name: string, replicas: number, extra: Record<string, unknown> = {}) => ({
  name,
  mode: { replicated: { replicas } },
  taskTemplate: {
    containerSpec: { image, command: ["sleep", "3600"], stopGracePeriodMs: 1000 },
    restartPolicy: { condition: "any", delayMs: 0 },
    ...extra,
  },
});

/** Waits until the service has `want` running tasks and the agents run exactly those. */
async function converged(service: string, want: number, on: string[] = ["ssd", "plain"]) {
  return agents.until(
    `${service}: ${want} running tasks, one container each`,
    async () => {
      const tasks = await runningTasks(c, leader, service);
      if (tasks.length !== want) return undefined;
      const containers = on.flatMap((a) => agents.running(a, tasks[0]?.serviceId ?? service));
      const ids = new Set(containers.map((x) => x.taskId));
      return containers.length === want && tasks.every((t) => ids.has(t.id)) ? tasks : undefined;
    },
    60_000,
  );
}

test("a service constrained to hw.storage==ssd runs only on the agent labelled ssd", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  const t0 = Date.now();
  const id = await createService(
    c,
    leader,
    sleeper("on-ssd", 3, { placement: { constraints: ["hw.storage==ssd"] } }),
  );
  const tasks = await converged("on-ssd", 3, ["ssd"]);
  t.diagnostic(`3 tasks running on ssd after ${Date.now() - t0} ms`);
  const ssd = agents.get("ssd").nodeId;
  assert.deepEqual(
    tasks.map((x) => x.nodeId),
    [ssd, ssd, ssd],
  );
  assert.equal(agents.running("plain", id).length, 0, "nothing of it on the hdd agent");
  const node = await c.api<{ status: { addr?: string } }>(leader, "GET", `/v1/nodes/${ssd}`);
  assert.equal(node.body.status.addr, "127.0.0.1", "the agent reports its address in hello");
  await c.api(leader, "DELETE", "/v1/services/on-ssd");
  await agents.until("on-ssd's containers removed", () => agents.containers("ssd").length === 0);
  t.diagnostic(`removed after ${Date.now() - t0} ms`);
});

test("scale up and down: containers follow the replica count on both agents", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  const id = await createService(c, leader, sleeper("scaled", 1));
  await converged("scaled", 1);
  await scale(c, leader, "scaled", 4);
  await converged("scaled", 4);
  // Spread puts replicas on both agents.
  assert.ok(agents.running("ssd", id).length > 0 && agents.running("plain", id).length > 0);
  await scale(c, leader, "scaled", 1);
  const left = await converged("scaled", 1);
  // Scaled-down tasks' containers are stopped and then removed (their tasks leave the set).
  await agents.until(
    "only one container of scaled left on the engine",
    () =>
      [...agents.containers("ssd"), ...agents.containers("plain")].filter((x) => x.serviceId === id)
        .length === 1,
    60_000,
  );
  assert.equal(left.length, 1);
});

test("a killed container is replaced and the service runs its replicas again", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  const id = await createService(c, leader, sleeper("killed", 2));
  const before = await converged("killed", 2);
  const victim = [...agents.running("ssd", id), ...agents.running("plain", id)][0]!;
  docker(["kill", victim.id]);
  const now = await agents.until(
    "the killed task replaced",
    async () => {
      const r = await converged("killed", 2);
      return r.some((x) => x.id === victim.taskId) ? undefined : r;
    },
    60_000,
  );
  assert.equal(now.length, 2);
  const all = await c.api<{ id: string; status: { state: number; err?: string } }[]>(
    leader,
    "GET",
    "/v1/tasks?service=killed",
  );
  const old = all.body.find((x) => x.id === victim.taskId);
  // The agent reported the exit (FAILED, 137 from SIGKILL) to the manager, which replaced it.
  assert.ok(old && old.status.state >= 576, `old task state ${old?.status.state}`);
  assert.ok(before.some((x) => x.id === victim.taskId));
});

test("a restarted agent adopts its containers: same ids, not restarted", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  await converged("killed", 2);
  const mine = () => agents.running("ssd").sort((a, b) => (a.id < b.id ? -1 : 1));
  const was = mine();
  assert.ok(was.length > 0, "the ssd agent runs something");
  await agents.kill("ssd", "SIGKILL");
  agents.start("ssd");
  await agents.until("the ssd agent connected again", () =>
    /session: connected to/.test(agents.get("ssd").log),
  );
  // It said hello with every task's status; the manager keeps them RUNNING on the same node.
  await converged("killed", 2);
  await converged("scaled", 1);
  const is = mine();
  assert.deepEqual(
    is.map((x) => [x.id, x.startedAt, x.restartCount]),
    was.map((x) => [x.id, x.startedAt, x.restartCount]),
    "same containers, same start time: adopted, not recreated or restarted",
  );
});

test("an agent given one broker learns the others from the cluster and fails over to them", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  const learner = agents.add("learner", { brokers: [1] });
  agents.start("learner");
  const all = [...c.members.values()].map((m) => `mqtt://127.0.0.1:${m.brokerPort}`).sort();
  const file = join(learner.dir, "brokers.json");
  await agents.until("the learned broker list saved in the data dir", () => {
    if (!existsSync(file)) return undefined;
    const saved = (JSON.parse(readFileSync(file, "utf8")) as { brokers: string[] }).brokers;
    return JSON.stringify([...saved].sort()) === JSON.stringify(all);
  });
  // The configured broker's manager dies: the agent moves to a learned one, and after an
  // agent restart (configured list still just the dead one) it finds them from its data dir.
  await c.kill(1);
  const other = [2, 3].map((id) => `mqtt://127.0.0.1:${c.members.get(id)!.brokerPort}`);
  const connectedToOther = () =>
    other.some((u) => agents.get("learner").log.includes(`session: connected to ${u}`));
  await agents.until("the learner connected to a learned broker", connectedToOther, 60_000);
  await agents.kill("learner", "SIGKILL");
  agents.start("learner");
  await agents.until("after a restart too", connectedToOther, 60_000);
  const alive = c.running()[0]!;
  leader = await c.leader(60_000);
  await agents.until("the learner ready in the cluster", async () => {
    const r = await c.api<{ id: string; status: { state: string } }[]>(alive, "GET", "/v1/nodes");
    return r.body.find((n) => n.id === learner.nodeId)?.status.state === "ready";
  });
});
