// Real agents on the real Docker engine under three real managers, through failures: a killed
// agent's tasks move to the other agent after the heartbeat grace (and its stale container is
// stopped when it comes back); with every manager stopped a restarted agent keeps its containers
// running and restarts a killed one itself; when the managers return the agent resyncs (reports
// what happened) and follows the current assignment. One cluster for the whole file.

import assert from "node:assert/strict";
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
  setHeartbeat,
  type TaskRow,
} from "./agents.ts";
import { Managers } from "./managers.ts";

const c = new Managers({ bundle: true });
const agents = new Agents(c);
let image = "";
let leader = 0;
const real = have("docker") && have("busybox");
const HEARTBEAT_MS = 500;

before(async () => {
  if (!real) return;
  buildBundle();
  image = ensureTestImage();
  await c.init(3);
  for (const id of [1, 2, 3]) c.start(id);
  leader = await c.leader(60_000);
  // Short heartbeats: a lost agent is DOWN after 3 x 500 ms. The agents are configured with
  // 5 s and must learn the cluster's period from their assignments (else they would flap).
  await setHeartbeat(c, leader, HEARTBEAT_MS);
  agents.add("a", { brokers: [1, 2, 3], heartbeatMs: 5000 });
  agents.add("b", { brokers: [3, 2, 1], heartbeatMs: 5000 });
  agents.start("a");
  agents.start("b");
  leader = await clusterReady(c, agents, ["a", "b"]);
});

after(async () => {
  await agents.close();
  await c.close();
});

const sleeper = (name: string, replicas: number, grace: string, constraints: string[] = []) => ({
  name,
  labels: { "fleet.disconnect-grace": grace },
  mode: { replicated: { replicas } },
  taskTemplate: {
    containerSpec: { image, command: ["sleep", "3600"], stopGracePeriodMs: 1000 },
    restartPolicy: { condition: "any", delayMs: 0 },
    placement: { constraints },
  },
});

async function tasksOf(service: string): Promise<TaskRow[]> {
  const id = (await c.leader(60_000).catch(() => leader)) || leader;
  return runningTasks(c, id, service);
}

test("a killed agent's tasks move to the other agent after the heartbeat grace", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  const t0 = Date.now();
  const mark = (what: string) => t.diagnostic(`${what} after ${Date.now() - t0} ms`);
  for (const n of ["a", "b"]) {
    await agents.until(`${n} beats at the cluster's period`, () =>
      agents.get(n).log.includes(`heartbeat every ${HEARTBEAT_MS} ms`),
    );
  }
  const id = await createService(c, leader, sleeper("moved", 2, "2s"));
  const a = agents.get("a").nodeId;
  const first = await agents.until(
    "moved: one task on each agent",
    async () => {
      const r = await tasksOf("moved");
      const onA = r.filter((x) => x.nodeId === a).length;
      return r.length === 2 && onA === 1 && agents.running("a", id).length === 1 ? r : undefined;
    },
    60_000,
  );
  const lost = first.find((x) => x.nodeId === a)!;
  mark("one task on each agent");
  await agents.kill("a", "SIGKILL");
  // Its container still runs (nobody stops it), but the cluster replaces its task on b.
  const moved = await agents.until(
    "both tasks running on b",
    async () => {
      const r = await tasksOf("moved");
      const onB = r.filter((x) => x.nodeId === agents.get("b").nodeId).length;
      return onB === 2 && agents.running("b", id).length === 2 ? r : undefined;
    },
    60_000,
  );
  mark("moved to b");
  assert.equal(moved.length, 2, "no task of it runs elsewhere");
  assert.ok(!moved.some((x) => x.id === lost.id), "the lost task was replaced, not reused");
  const nodes = await c.api<{ id: string; status: { state: string } }[]>(
    leader,
    "GET",
    "/v1/nodes",
  );
  assert.notEqual(nodes.body.find((n) => n.id === a)?.status.state, "ready");
  // Back: a's agent gets the old task with desired SHUTDOWN and stops its container.
  agents.start("a");
  await agents.until("a's stale container stopped", () => agents.running("a", id).length === 0);
  mark("stale container stopped");
  // Out of the way of the next test (removal on delete is checked in agent-placement).
  await c.api(leader, "DELETE", "/v1/services/moved");
});

test("managers gone, agent restarted: containers keep running; a killed one is restarted by the agent; managers back: resync", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  const b = agents.get("b").nodeId;
  // Pinned to b with a long disconnect grace: the outage must not move them.
  const id = await createService(c, leader, sleeper("steady", 2, "10m", [`node.hostname==${b}`]));
  await agents.until(
    "steady: two tasks running on b",
    async () => (await tasksOf("steady")).length === 2 && agents.running("b", id).length === 2,
    60_000,
  );
  const was = agents.running("b", id).sort((x, y) => (x.id < y.id ? -1 : 1));
  for (const m of [1, 2, 3]) await c.kill(m);
  await agents.kill("b", "SIGKILL");
  agents.start("b");
  // No manager: the agent starts from its saved assignment and adopts what runs.
  await agents.until("b's agent up and offline", () =>
    /offline|cannot|ECONNREFUSED|session/.test(agents.get("b").log),
  );
  const victim = was[0]!;
  docker(["kill", victim.id]);
  const back = await agents.until(
    "the killed container started again by the agent (same container)",
    () => {
      const r = agents.running("b", id);
      const v = r.find((x) => x.id === victim.id);
      return r.length === 2 && v && v.startedAt !== victim.startedAt ? r : undefined;
    },
    30_000,
  );
  assert.deepEqual(
    back.map((x) => x.id).sort(),
    was.map((x) => x.id).sort(),
    "no container was recreated while offline",
  );
  const other = back.find((x) => x.id !== victim.id)!;
  assert.equal(other.startedAt, was[1]!.startedAt, "the untouched one was never restarted");

  // Managers back: b says hello with every task's status and follows the current assignment.
  for (const m of [1, 2, 3]) c.start(m);
  leader = await c.leader(60_000);
  const resynced = await agents.until(
    "b ready again, reporting the offline restart",
    async () => {
      const r = await c.api<TaskRow[]>(leader, "GET", `/v1/tasks?service=steady`);
      const nodes = await c.api<{ id: string; status: { state: string } }[]>(
        leader,
        "GET",
        "/v1/nodes",
      );
      const ready = nodes.body.find((n) => n.id === b)?.status.state === "ready";
      const t = r.body.find((x) => x.id === victim.taskId);
      agents.note = JSON.stringify({ ready, victim: t?.status });
      return ready && t && /while offline/.test(t.status.message ?? "") ? r.body : undefined;
    },
    90_000,
  );
  const running = resynced.filter((x) => x.status.state === 512 && x.desiredState === 512);
  assert.deepEqual(
    running.map((x) => x.id).sort(),
    was.map((x) => x.taskId).sort(),
    "the same two tasks run: nothing was replaced during the outage",
  );
  await scale(c, leader, "steady", 1);
  await agents.until(
    "b follows the new assignment (one container left)",
    async () =>
      (await tasksOf("steady")).length === 1 &&
      agents.containers("b").filter((x) => x.serviceId === id).length === 1,
    60_000,
  );
});
