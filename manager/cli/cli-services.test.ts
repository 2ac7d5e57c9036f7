// The real `fleet` entry against an API server: service, cluster and join-token commands, and
// the converge display driven by a fake orchestrator that moves tasks in the store.

import assert from "node:assert/strict";
import { test } from "node:test";
import { CRASH_WHY, fakeOrchestrator, PENDING_WHY } from "./fake-orchestrator.ts";
import { fleet, startApi } from "./testing.ts";

test("service create maps docker's flags onto the spec; ls, ps, inspect, rm", async () => {
  const s = await startApi();
  const run = (...a: string[]) => fleet(a, { socket: s.socket });
  try {
    const created = await run(
      "service",
      "create",
      "-d",
      "--name",
      "web",
      "--replicas",
      "3",
      "--constraint",
      "node.labels.storage==ssd",
      "--placement-pref",
      "spread=node.labels.zone",
      "--replicas-max-per-node",
      "2",
      "--env",
      "A=1",
      "--label",
      "team=iot",
      "--mount",
      "type=bind,source=/data,target=/data,readonly",
      "--publish",
      "8080:80",
      "--restart-condition",
      "on-failure",
      "--restart-delay",
      "2s",
      "--restart-max-attempts",
      "3",
      "--update-parallelism",
      "2",
      "--update-delay",
      "1m30s",
      "--update-failure-action",
      "rollback",
      "--update-order",
      "start-first",
      "--rollback-parallelism",
      "0",
      "--reserve-cpu",
      "0.5",
      "--reserve-memory",
      "64M",
      "--limit-memory",
      "128M",
      "--health-cmd",
      "wget -q localhost",
      "--health-interval",
      "10s",
      "--stop-grace-period",
      "5s",
      "busybox",
      "httpd",
      "-f",
    );
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    const spec = s.store.view((tx) => tx.get("services", id))!.spec;
    const t = spec.taskTemplate;
    assert.deepEqual(spec.mode, { replicated: { replicas: 3 } });
    assert.deepEqual(t.containerSpec.command, ["httpd", "-f"]);
    assert.deepEqual(t.containerSpec.env, ["A=1"]);
    assert.deepEqual(t.containerSpec.mounts, [
      { type: "bind", source: "/data", target: "/data", readOnly: true },
    ]);
    assert.deepEqual(t.containerSpec.healthcheck, {
      test: ["CMD-SHELL", "wget -q localhost"],
      intervalMs: 10_000,
    });
    assert.equal(t.containerSpec.stopGracePeriodMs, 5000);
    assert.deepEqual(t.placement.constraints, ["node.labels.storage==ssd"]);
    assert.deepEqual(t.placement.preferences, [{ spread: "node.labels.zone" }]);
    assert.equal(t.placement.maxReplicasPerNode, 2);
    assert.deepEqual(t.restartPolicy, {
      condition: "on-failure",
      delayMs: 2000,
      maxAttempts: 3,
      windowMs: 0,
    });
    assert.deepEqual(t.resources, {
      reservations: { nanoCPUs: 5e8, memoryBytes: 64 * 2 ** 20 },
      limits: { memoryBytes: 128 * 2 ** 20 },
    });
    assert.equal(spec.updateConfig.parallelism, 2);
    assert.equal(spec.updateConfig.delayMs, 90_000);
    assert.equal(spec.updateConfig.failureAction, "rollback");
    assert.equal(spec.updateConfig.order, "start-first");
    assert.equal(spec.rollbackConfig.parallelism, 0);
    assert.deepEqual(spec.labels, { team: "iot" });
    assert.deepEqual(spec.endpointSpec.ports, [
      { protocol: "tcp", publishedPort: 8080, targetPort: 80, publishMode: "host" },
    ]);
    const [ls, q, inspect, ps, logs] = await Promise.all([
      run("service", "ls"),
      run("service", "ls", "-q"),
      run("service", "inspect", "web"),
      run("service", "ps", "web"),
      run("service", "logs", "-f", "web"),
    ]);
    assert.equal(logs.code, 1);
    assert.match(logs.stderr, /logs of service web cannot be read through this manager/);
    assert.match(ls.stdout, /^ID {13}NAME {3}MODE {9}REPLICAS {15}IMAGE {5}PORTS$/m);
    assert.match(
      ls.stdout,
      new RegExp(
        `^${id.slice(0, 12)}   web    replicated   0/3 \\(max 2 per node\\)   ` +
          "busybox   \\*:8080->80/tcp$",
        "m",
      ),
    );
    assert.equal(q.stdout.trim(), id);
    assert.equal(JSON.parse(inspect.stdout)[0].spec.name, "web");
    assert.equal(ps.code, 0, ps.stderr);
    const rm = await run("service", "rm", "web", "nope");
    assert.equal(rm.code, 1);
    assert.match(rm.stdout, /^web$/m);
    assert.match(rm.stderr, /no such service: nope/);
  } finally {
    await s.stop();
  }
});

test("service create: bad values, an invalid constraint, a clashing name", async () => {
  const s = await startApi();
  const run = (...a: string[]) => fleet(a, { socket: s.socket });
  try {
    await run("service", "create", "-d", "--name", "web", "busybox");
    const [constraint, dup, duration, mode, port] = await Promise.all([
      run("service", "create", "-d", "--constraint", "node.labels.storage=ssd", "busybox"),
      run("service", "create", "-d", "--name", "web", "busybox"),
      run("service", "create", "-d", "--update-delay", "soon", "busybox"),
      run("service", "create", "-d", "--mode", "daemon", "busybox"),
      run("service", "create", "-d", "--publish", "http", "busybox"),
    ]);
    assert.equal(constraint.code, 1);
    assert.match(
      constraint.stderr,
      /invalid service spec:\n {2}taskTemplate\.placement\.constraints\[0\]: column 20/,
    );
    assert.match(constraint.stderr, /did you mean `node\.labels\.storage==ssd`/);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /a service named "web" already exists/);
    assert.equal(duration.code, 2);
    assert.match(duration.stderr, /--update-delay: "soon" is not a duration/);
    assert.equal(mode.code, 2);
    assert.equal(port.code, 2);
  } finally {
    await s.stop();
  }
});

test("converge: create, update, scale and rollback wait and show per-task progress", async () => {
  const s = await startApi();
  const orch = fakeOrchestrator(s.store);
  const run = (...a: string[]) => fleet(a, { socket: s.socket });
  try {
    const created = await run("service", "create", "--name", "web", "--replicas", "2", "busybox");
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^1\/2: running +\[=+>\]$/m);
    assert.match(created.stdout, /^overall progress: 2 out of 2 tasks$/m);
    assert.match(created.stdout, /verify: Service web converged\n$/);
    const updated = await run("service", "update", "--image", "nginx", "--env-add", "B=2", "web");
    assert.equal(updated.code, 0, updated.stderr);
    assert.match(updated.stdout, /verify: Service web converged/);
    const scaled = await run("service", "scale", "web=3");
    assert.equal(scaled.code, 0, scaled.stderr);
    assert.match(scaled.stdout, /web scaled to 3[\s\S]*3\/3: running/);
    const back = await run("service", "rollback", "web");
    assert.equal(back.code, 0, back.stderr);
    const svc = s.store.view((tx) => tx.find("services"))[0]!;
    assert.equal(svc.spec.taskTemplate.containerSpec.image, "nginx");
    assert.deepEqual(svc.spec.mode, { replicated: { replicas: 2 } });
    const forced = await run("service", "update", "--force", "-d", "web");
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(s.store.view((tx) => tx.find("services"))[0]!.spec.taskTemplate.forceUpdate, 1);
  } finally {
    orch.stop();
    await s.stop();
  }
});

test("converge: a task that cannot be placed or crashes ends the wait and says why", async () => {
  const s = await startApi();
  const orch = fakeOrchestrator(s.store);
  const run = (...a: string[]) => fleet(a, { socket: s.socket });
  try {
    const [pending, crash] = await Promise.all([
      run(
        "service",
        "create",
        "--name",
        "fast",
        "--constraint",
        "node.labels.storage==nvme",
        "--timeout",
        "3s",
        "busybox",
      ),
      run("service", "create", "--name", "crashy", "--restart-condition", "none", "crash"),
    ]);
    assert.equal(pending.code, 1);
    assert.match(pending.stdout, new RegExp(`1/1: pending .*: ${reEscape(PENDING_WHY)}`));
    assert.match(pending.stderr, /did not converge within 3s: task 1 pending: no suitable node/);
    assert.match(pending.stderr, /fleet service ps/);
    assert.equal(crash.code, 1);
    assert.match(
      crash.stderr,
      new RegExp(`service crashy did not converge: task 1 failed: ${CRASH_WHY}`),
    );
  } finally {
    orch.stop();
    await s.stop();
  }
});

function reEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

test("cluster inspect and update, join tokens", async () => {
  const s = await startApi();
  const run = (...a: string[]) => fleet(a, { socket: s.socket });
  try {
    const inspect = await run("cluster", "inspect");
    assert.equal(JSON.parse(inspect.stdout).id, "c1");
    const up = await run(
      "cluster",
      "update",
      "--heartbeat-period",
      "2s",
      "--task-history-limit",
      "3",
    );
    assert.equal(up.code, 0, up.stderr);
    const spec = s.store.view((tx) => tx.get("clusters", "c1"))!.spec;
    assert.equal(spec.heartbeatPeriodMs, 2000);
    assert.equal(spec.taskHistoryLimit, 3);
    const bad = await run("cluster", "update", "--heartbeat-period", "1ms");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /heartbeatPeriodMs: must be at least 100/);
    const q = await run("join-token", "-q", "worker");
    assert.match(q.stdout.trim(), /^FLT1-[0-9a-f]{50}-[a-z2-7]{25}$/);
    const rotated = await run("join-token", "--rotate", "worker");
    assert.match(rotated.stdout, /Successfully rotated worker join token/);
    assert.match(rotated.stdout, /fleet join --token FLT1-/);
    assert.ok(!rotated.stdout.includes(q.stdout.trim()));
    const role = await run("join-token", "admin");
    assert.equal(role.code, 2);
  } finally {
    await s.stop();
  }
});
