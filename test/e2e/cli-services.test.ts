// `fleet service …` (the real binary) against three real managers with simulated agents: every
// verb, with and without -d, --format json, -q, unknown and ambiguous references, invalid
// constraints and a service that cannot converge.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { TaskState } from "../../core/model/task-state.ts";
import { SimAgent } from "../../manager/dispatcher/sim-agent.ts";
import { CliCluster, until } from "./cli-harness.ts";

const c = new CliCluster();
let f = 0; // a follower: the CLI talks to it, writes reach the leader through Raft

before(async () => {
  await c.start(["edge-1", "edge-2"]);
  f = c.follower();
});

after(() => c.close());

const ok = (r: { code: number; stderr: string; stdout: string }) =>
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

test("create without -d shows progress and ends with a verdict; ls, ps, inspect, -q, json", async () => {
  const r = await c.fleet(f, ["service", "create", "--name", "web", "--replicas", "2", "busybox"]);
  ok(r);
  const lines = r.stdout.trim().split("\n");
  assert.match(lines[0]!, /^[a-z2-7]{25}$/, "the id first");
  assert.ok(
    lines.some((l) => /^overall progress: \d out of 2 tasks$/.test(l)),
    r.stdout,
  );
  assert.match(lines.at(-1)!, /^verify: Service web converged$/);

  const ls = await c.fleet(f, ["service", "ls"]);
  ok(ls);
  assert.match(ls.stdout, /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS/);
  assert.match(ls.stdout, /\bweb\s+replicated\s+2\/2\s+busybox/);

  const q = await c.fleet(f, ["service", "ls", "-q"]);
  ok(q);
  assert.deepEqual(q.stdout.trim().split("\n"), [lines[0]]);

  const js = await c.fleet(f, ["service", "ls", "--format", "json"]);
  ok(js);
  const parsed = JSON.parse(js.stdout) as { spec: { name: string } }[];
  assert.deepEqual(
    parsed.map((s) => s.spec.name),
    ["web"],
  );

  const ps = await c.fleet(f, ["service", "ps", "web"]);
  ok(ps);
  assert.match(ps.stdout, /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE/);
  const rows = ps.stdout.match(
    /web\.\d\s+busybox\s+edge-\d\s+Running\s+Running (\d+ seconds?|Less than a second) ago/g,
  );
  assert.equal(rows?.length, 2, ps.stdout);

  const psq = await c.fleet(f, ["service", "ps", "-q", "web"]);
  ok(psq);
  assert.equal(psq.stdout.trim().split("\n").length, 2);

  const ins = await c.fleet(f, ["service", "inspect", "web"]);
  ok(ins);
  const [svc] = JSON.parse(ins.stdout) as { id: string; spec: { mode: unknown } }[];
  assert.equal(svc!.id, lines[0]);
  assert.deepEqual(svc!.spec.mode, { replicated: { replicas: 2 } });
});

test("scale, update and rollback wait for convergence; -d returns at once", async () => {
  const s = await c.fleet(f, ["service", "scale", "web=3"]);
  ok(s);
  assert.match(s.stdout, /^web scaled to 3$/m);
  assert.match(s.stdout.trim().split("\n").at(-1)!, /^verify: Service web converged$/);

  // Three tasks at once, each watched 500 ms (the default 5 s per task would only slow this).
  const fast = ["--update-parallelism", "3", "--update-monitor", "500ms"];
  const fastBack = ["--rollback-parallelism", "3", "--rollback-monitor", "500ms"];
  const u = await c.fleet(f, [
    "service",
    "update",
    ...fast,
    ...fastBack,
    "--image",
    "busybox:1.36",
    "web",
  ]);
  ok(u);
  assert.match(u.stdout.trim().split("\n").at(-1)!, /^verify: Service web converged$/);
  const after1 = JSON.parse((await c.fleet(f, ["service", "inspect", "web"])).stdout);
  assert.equal(after1[0].spec.taskTemplate.containerSpec.image, "busybox:1.36");

  const rb = await c.fleet(f, ["service", "rollback", "web"]);
  ok(rb);
  assert.match(rb.stdout.trim().split("\n").at(-1)!, /^verify: Service web converged$/);
  const after2 = JSON.parse((await c.fleet(f, ["service", "inspect", "web"])).stdout);
  assert.equal(after2[0].spec.taskTemplate.containerSpec.image, "busybox");

  const d = await c.fleet(f, ["service", "scale", "-d", "web=1"]);
  ok(d);
  assert.equal(d.stdout.trim(), "web scaled to 1", "no progress with -d");
  const ud = await c.fleet(f, ["service", "update", "-d", "--env-add", "A=1", "web"]);
  ok(ud);
  assert.equal(ud.stdout.trim(), "web");
  const rd = await c.fleet(f, ["service", "rollback", "-d", "web"]);
  ok(rd);
  assert.equal(rd.stdout.trim(), "web");
});

test("invalid constraints: a clear message and exit code; an unsatisfiable one says why", async () => {
  const bad = await c.fleet(f, [
    "service",
    "create",
    "-d",
    "--name",
    "badc",
    "--constraint",
    "node.labels.zone=a",
    "busybox",
  ]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(
    bad.stderr,
    /^Error: invalid service spec:\n {2}taskTemplate\.placement\.constraints\[0\]: /,
  );
  assert.match(bad.stderr, /unknown operator `=`.*did you mean `node\.labels\.zone==a`/);
  assert.equal(bad.stdout, "", "nothing was created");

  const noField = await c.fleet(f, [
    "service",
    "create",
    "-d",
    "--constraint",
    "node.colour==red",
    "busybox",
  ]);
  assert.equal(noField.code, 1);
  assert.match(noField.stderr, /node\.colour/);

  const none = await c.fleet(f, [
    "service",
    "create",
    "--name",
    "nowhere",
    "--constraint",
    "node.labels.storage==ssd",
    "--timeout",
    "4s",
    "busybox",
  ]);
  assert.equal(none.code, 1, none.stdout);
  assert.match(none.stderr, /service nowhere did not converge within 4s: .*no suitable node/);
  assert.match(none.stderr, /fleet service ps/);
  assert.match(none.stdout, /1\/1: pending\s+\[.*\]: no suitable node/);
});

test("unknown and ambiguous references, bad flags and arguments", async () => {
  const unknown = await c.fleet(f, ["service", "inspect", "nosuchservice"]);
  assert.equal(unknown.code, 1);
  assert.match(
    unknown.stderr,
    /^Error: no such service: nosuchservice \(list them with `fleet service ls`\)/,
  );

  // Services until two ids share a first character (32 letters: at most 33 services).
  const ids: string[] = JSON.parse(
    (await c.fleet(f, ["service", "ls", "--format", "json"])).stdout,
  ).map((s: { id: string }) => s.id);
  for (let i = 0; i < 33 && !shared(ids); i++) {
    const r = await c.managers.api<{ id: string }>(f, "POST", "/v1/services/create", {
      name: `amb${i}`,
      mode: { replicated: { replicas: 0 } },
      taskTemplate: { containerSpec: { image: "busybox" } },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    ids.push(r.body.id);
  }
  const prefix = shared(ids)!;
  const amb = await c.fleet(f, ["service", "inspect", prefix]);
  assert.equal(amb.code, 1);
  assert.match(
    amb.stderr,
    new RegExp(`service reference "${prefix}" is ambiguous \\(\\d+ matches: `),
  );
  assert.match(amb.stderr, /use more characters of the id/);
  const one = ids.find((id) => id.startsWith(prefix))!;
  const unique = await c.fleet(f, ["service", "inspect", one.slice(0, 12)]);
  ok(unique);
  assert.equal(JSON.parse(unique.stdout)[0].id, one);

  const flag = await c.fleet(f, ["service", "ls", "--quite"]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /unknown flag: --quite \(did you mean --quiet\?\)/);
  assert.match(flag.stderr, /See 'fleet service ls --help'/);

  const verb = await c.fleet(f, ["service", "lss"]);
  assert.equal(verb.code, 2);
  assert.match(verb.stderr, /unknown command "fleet service lss" \(did you mean "ls"\?\)/);

  const noArg = await c.fleet(f, ["service", "rollback"]);
  assert.equal(noArg.code, 2);
  assert.match(noArg.stderr, /"fleet service rollback" requires at least 1 argument/);

  const badScale = await c.fleet(f, ["service", "scale", "web=many"]);
  assert.equal(badScale.code, 2);
  assert.match(badScale.stderr, /replicas/);

  const badReplicas = await c.fleet(f, ["service", "create", "--replicas", "-3", "busybox"]);
  assert.equal(badReplicas.code, 2, badReplicas.stderr);

  const fmt = await c.fleet(f, ["service", "ls", "--format", "yaml"]);
  assert.equal(fmt.code, 2);
  assert.match(fmt.stderr, /--format: "yaml" is not supported/);

  const filter = await c.fleet(f, ["service", "ls", "--filter", "colour=red"]);
  assert.equal(filter.code, 2);
  assert.match(filter.stderr, /unknown key "colour"/);

  const unknownPs = await c.fleet(f, ["service", "ps", "nosuchservice"]);
  assert.equal(unknownPs.code, 1);
  assert.match(unknownPs.stderr, /no such service: nosuchservice/);
});

test("a task that fails: the wait ends with the verdict and the container's error; -q", async () => {
  // An agent whose containers exit at once: it reports every task it is given as FAILED.
  const m = c.managers.members.get(f)!;
  const bad = await SimAgent.start({
    url: `mqtt://127.0.0.1:${m.brokerPort}`,
    clusterId: c.managers.clusterId,
    nodeId: "edge-bad",
    reportStatus: false,
  });
  bad.startHeartbeats(1000);
  const failed = new Set<string>();
  const failer = setInterval(() => {
    const updates = bad.tasks
      .filter((t) => !failed.has(t.id) && t.desiredState <= TaskState.RUNNING)
      .map((t) => {
        failed.add(t.id);
        return {
          taskId: t.id,
          state: TaskState.FAILED,
          timestamp: Date.now(),
          message: "exited",
          err: "container exited with code 3: no such file /app/run",
        };
      });
    if (updates.length > 0) void bad.status(updates);
  }, 100);
  try {
    await until("edge-bad ready", async () => {
      const r = await c.fleet(f, ["node", "inspect", "edge-bad"]);
      return r.code === 0 && JSON.parse(r.stdout)[0].status.state === "ready";
    });
    const r = await c.fleet(f, [
      "service",
      "create",
      "--name",
      "crash",
      "--restart-condition",
      "none",
      "--constraint",
      "node.hostname==edge-bad",
      "busybox",
    ]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(
      r.stderr,
      /^Error: service crash did not converge: task 1 failed: container exited with code 3: no such file \/app\/run$/m,
    );
    assert.match(r.stdout, /1\/1: failed\s+\[.*\]: container exited with code 3/);

    const q = await c.fleet(f, ["service", "scale", "-q", "web=2"]);
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout.trim(), "web scaled to 2", "-q: no progress, no verdict line");
  } finally {
    clearInterval(failer);
    await bad.stop();
  }
});

test("rm removes a service; removing it again names it as unknown", async () => {
  const r = await c.fleet(f, ["service", "rm", "web", "nowhere", "crash"]);
  ok(r);
  assert.deepEqual(r.stdout.trim().split("\n"), ["web", "nowhere", "crash"]);
  const again = await c.fleet(f, ["service", "rm", "web"]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no such service: web/);
  const ls = await c.fleet(f, ["service", "ls", "--format", "json"]);
  const names = JSON.parse(ls.stdout).map((s: { spec: { name: string } }) => s.spec.name);
  assert.ok(!names.includes("web") && !names.includes("nowhere"), names.join(","));
});

function shared(ids: string[]): string | undefined {
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id[0]!)) return id[0];
    seen.add(id[0]!);
  }
  return undefined;
}
