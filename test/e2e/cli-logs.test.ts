// `fleet service logs` end to end: the real binary -> a manager's API -> the broker mesh -> a real
// edge agent (sources, Docker) on another manager's broker -> the container's output, back as
// logsChunk messages. A service, one task, --tail, --timestamps, --follow (Ctrl-C ends it), an
// unknown reference, and an agent that is gone.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ensureTestImage, have, need } from "../support/real.ts";
import { Agents } from "./agents.ts";
import { CliCluster, until } from "./cli-harness.ts";

const c = new CliCluster();
const agents = new Agents(c.managers, { bundle: false });
let asker = 0; // a manager other than the one whose broker the agent uses
let nodeId = "";
const LINE = /^echo\.([12])\.([a-z0-9]{12})@(\S+)\s+\| (?:(\S+) )?(out|err) (\d+)$/;

before(async () => {
  if (!have("docker")) return;
  const image = ensureTestImage();
  await c.start([]);
  const home = c.follower();
  asker = c.managers.running().find((id) => id !== home)!;
  nodeId = agents.add("logger", { brokers: [home] }).nodeId;
  agents.start("logger");
  await until(
    "the agent ready",
    async () => {
      const r = await c.fleet(asker, ["node", "ls", "-q"]);
      const n = await c.fleet(asker, ["node", "inspect", nodeId]);
      return r.stdout.includes(nodeId) && JSON.parse(n.stdout)[0].status.state === "ready";
    },
    60_000,
  );
  const script = "i=0; while true; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.2; done";
  const r = await c.fleet(asker, [
    "service",
    "create",
    "--name",
    "echo",
    "--replicas",
    "2",
    "--timeout",
    "60s",
    image,
    "sh",
    "-c",
    script,
  ]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${agents.get("logger").log}`);
});

after(async () => {
  await agents.close().catch(() => {});
  await c.close();
});

function parse(stdout: string) {
  return stdout
    .trim()
    .split("\n")
    .map((l) => {
      const m = LINE.exec(l);
      assert.ok(m, `a log line: ${JSON.stringify(l)}`);
      return { slot: m[1]!, task: m[2]!, node: m[3]!, ts: m[4], stream: m[5]!, n: Number(m[6]) };
    });
}

test("logs of a service: both tasks' stdout and stderr, --tail per task, --timestamps", async (t) => {
  if (!need(t, "docker")) return;
  const r = await until(
    "lines of both tasks",
    async () => {
      const x = await c.fleet(asker, ["service", "logs", "--tail", "4", "echo"]);
      return x.code === 0 && new Set(parse(x.stdout).map((l) => l.slot)).size === 2 ? x : undefined;
    },
    30_000,
  );
  const lines = parse(r.stdout);
  for (const slot of ["1", "2"]) {
    const mine = lines.filter((l) => l.slot === slot);
    assert.ok(mine.length > 0 && mine.length <= 4, `--tail 4 per task: ${r.stdout}`);
    assert.ok(mine.every((l) => l.node === nodeId));
  }
  assert.ok(
    lines.some((l) => l.stream === "err"),
    "stderr comes too",
  );
  assert.ok(
    lines.every((l) => l.ts === undefined),
    "no times unless asked",
  );

  const ts = await c.fleet(asker, ["service", "logs", "--tail", "2", "--timestamps", "echo"]);
  assert.equal(ts.code, 0, ts.stderr);
  for (const l of parse(ts.stdout)) {
    assert.match(l.ts ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(l.ts!) - Date.now()) < 10 * 60_000, "the engine's time");
  }
});

test("logs of one task by id prefix", async (t) => {
  if (!need(t, "docker")) return;
  const ids = (await c.fleet(asker, ["service", "ps", "-q", "echo"])).stdout.trim().split("\n");
  const id = ids[0]!;
  const r = await c.fleet(asker, ["service", "logs", "--tail", "3", id.slice(0, 10)]);
  assert.equal(r.code, 0, r.stderr);
  const lines = parse(r.stdout);
  assert.ok(lines.length > 0);
  assert.ok(
    lines.every((l) => id.startsWith(l.task)),
    r.stdout,
  );
});

test("--follow streams new lines until Ctrl-C", async (t) => {
  if (!need(t, "docker")) return;
  const f = c.spawn(asker, ["service", "logs", "--follow", "--tail", "1", "echo"]);
  try {
    const first = await until("a first line", () => f.out.stdout.split("\n")[0] || undefined);
    const start = parse(first)[0]!;
    await until(
      "lines written after the request",
      () => {
        const done = f.out.stdout.endsWith("\n")
          ? f.out.stdout
          : f.out.stdout.slice(0, f.out.stdout.lastIndexOf("\n") + 1);
        const later = parse(done).filter((l) => l.slot === start.slot && l.stream === start.stream);
        return later.some((l) => l.n >= start.n + 3);
      },
      30_000,
    );
    f.child.kill("SIGINT");
    assert.equal(await f.exited, 0, f.out.stderr);
  } finally {
    f.child.kill("SIGKILL");
  }
});

test("an unknown reference, and tasks whose agent is gone", async (t) => {
  if (!need(t, "docker")) return;
  const unknown = await c.fleet(asker, ["service", "logs", "nosuch"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^Error: no such service or task: nosuch/);
  const badTail = await c.fleet(asker, ["service", "logs", "--tail", "x", "echo"]);
  assert.equal(badTail.code, 2);

  await agents.kill("logger");
  const r = await c.fleet(asker, ["service", "logs", "echo"], 60_000);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /warning: task \w+ on node \S+: the agent did not answer within 10s/);
});
