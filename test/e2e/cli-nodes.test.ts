// `fleet node …`, `fleet cluster …`, `fleet events` (the real binary) against three real managers
// with simulated agents, and the CLI when a manager is down: pointed at the dead one it says so,
// pointed at a survivor it works and its writes reach the new leader.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CliCluster, until } from "./cli-harness.ts";

const c = new CliCluster();
let f = 0;

before(async () => {
  await c.start(["edge-1", "edge-2", "edge-3"]);
  f = c.follower();
});

after(() => c.close());

const ok = (r: { code: number; stderr: string; stdout: string }) =>
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

interface NodeView {
  id: string;
  spec: { role: string; availability: string; labels: Record<string, string> };
  description: { hostname: string };
  managerStatus?: { leader?: boolean; reachability: string };
}

async function node(ref: string): Promise<NodeView> {
  const r = await c.fleet(f, ["node", "inspect", ref]);
  ok(r);
  return (JSON.parse(r.stdout) as NodeView[])[0]!;
}

test("node ls, -q, --format json, inspect and ps", async () => {
  const ls = await c.fleet(f, ["node", "ls"]);
  ok(ls);
  const lines = ls.stdout.trim().split("\n");
  assert.match(lines[0]!, /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+PLATFORM$/);
  assert.equal(lines.length, 1 + 3 + 3, ls.stdout);
  assert.equal(lines.filter((l) => /\bLeader\b/.test(l)).length, 1, ls.stdout);
  assert.equal(lines.filter((l) => /\bReachable\b/.test(l)).length, 2, ls.stdout);
  assert.equal(lines.filter((l) => / \* /.test(l)).length, 1, "the manager asked is starred");
  assert.match(ls.stdout, /^edge-1\s+edge-1\s+Ready\s+Active\s+linux\/arm64$/m);

  const q = await c.fleet(f, ["node", "ls", "-q"]);
  ok(q);
  assert.equal(q.stdout.trim().split("\n").length, 6);
  assert.ok(q.stdout.split("\n").includes("edge-2"));

  const js = await c.fleet(f, ["node", "ls", "--format", "json", "--filter", "role=manager"]);
  ok(js);
  const managers = JSON.parse(js.stdout) as NodeView[];
  assert.deepEqual(managers.map((n) => n.description.hostname).sort(), [
    "manager-1",
    "manager-2",
    "manager-3",
  ]);

  // By hostname, by full id and by a unique id prefix.
  const m1 = await node("manager-1");
  assert.equal((await node(m1.id)).id, m1.id);
  assert.equal((await node(m1.id.slice(0, 10))).id, m1.id);

  await c.fleet(f, [
    "service",
    "create",
    "-d",
    "--name",
    "pinned",
    "--constraint",
    "node.hostname==edge-3",
    "busybox",
  ]);
  const ps = await until("the task on edge-3", async () => {
    const r = await c.fleet(f, ["node", "ps", "edge-3"]);
    return r.code === 0 && /pinned\.1\s+busybox\s+edge-3\s+Running\s+Running/.test(r.stdout)
      ? r
      : undefined;
  });
  assert.match(ps.stdout, /^ID\s+NAME\s+IMAGE\s+NODE/);
  const mine = await c.fleet(f, ["node", "ps"]);
  ok(mine);
  assert.doesNotMatch(mine.stdout, /pinned/, "a manager runs no tasks");
});

test("node update, promote, demote and rm", async () => {
  ok(
    await c.fleet(f, [
      "node",
      "update",
      "--label-add",
      "storage=ssd",
      "--label-add",
      "zone=a",
      "edge-1",
    ]),
  );
  ok(
    await c.fleet(f, ["node", "update", "--label-rm", "zone", "--availability", "drain", "edge-1"]),
  );
  const n = await node("edge-1");
  assert.deepEqual(n.spec.labels, { storage: "ssd" });
  assert.equal(n.spec.availability, "drain");
  ok(await c.fleet(f, ["node", "update", "--availability", "active", "edge-1"]));

  const bad = await c.fleet(f, ["node", "update", "--availability", "sleep", "edge-1"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--availability: "sleep" is not active, pause or drain/);

  // An edge agent cannot run the manager components: promotion is refused with what to do.
  const p = await c.fleet(f, ["node", "promote", "edge-2"]);
  assert.equal(p.code, 1);
  assert.match(p.stderr, /node edge-2 .* runs no manager daemon .*fleet join --token/);
  assert.equal((await node("edge-2")).spec.role, "worker");
  const again = await c.fleet(f, ["node", "promote", "manager-1"]);
  ok(again);
  assert.equal(again.stdout.trim(), "Node manager-1 is already a manager.");
  const d = await c.fleet(f, ["node", "demote", "edge-2"]);
  ok(d);
  assert.equal(d.stdout.trim(), "Node edge-2 is already a worker.");

  const rmManager = await c.fleet(f, ["node", "rm", "manager-1"]);
  assert.equal(rmManager.code, 1);
  assert.match(rmManager.stderr, /is a manager and a member of the Raft group: demote it first/);
  const rmUp = await c.fleet(f, ["node", "rm", "edge-3"]);
  assert.equal(rmUp.code, 1);
  assert.match(rmUp.stderr, /node edge-3 \(edge-3\) is not down .* --force/);
  const rm = await c.fleet(f, ["node", "rm", "--force", "edge-3"]);
  ok(rm);
  assert.equal(rm.stdout.trim(), "edge-3");
  const gone = await c.fleet(f, ["node", "inspect", "edge-3"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^Error: no such node: edge-3 \(list them with `fleet node ls`\)/);
});

test("node: unknown and ambiguous references, bad flags", async () => {
  // Every manager's id and every agent's: 3 random ids over 32 first letters rarely share
  // one, so ambiguity is shown with the agents' ids, which share "edge-".
  const amb = await c.fleet(f, ["node", "inspect", "edge"]);
  assert.equal(amb.code, 1);
  assert.match(
    amb.stderr,
    /node reference "edge" is ambiguous \(\d matches: edge-1, edge-2(, edge-3)?\)/,
  );
  const unknown = await c.fleet(f, ["node", "ps", "nosuchnode"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no such node: nosuchnode/);
  const flag = await c.fleet(f, ["node", "ls", "--fliter", "role=manager"]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /unknown flag: --fliter \(did you mean --filter\?\)/);
  const role = await c.fleet(f, ["node", "update", "--role", "boss", "edge-1"]);
  assert.equal(role.code, 2);
  assert.match(role.stderr, /--role: "boss" is not worker or manager/);
  const host = await c.fleetRaw(["node", "ls", "--host", "not a host"]);
  assert.equal(host.code, 2);
  assert.match(host.stderr, /--host "not a host" is not a manager address/);
  const none = await c.fleetRaw(["node", "ls", "--host", "unix:///nonexistent/fleet.sock"]);
  assert.equal(none.code, 1);
  assert.match(
    none.stderr,
    /^Error: cannot reach a fleet manager at unix:\/\/\/nonexistent\/fleet\.sock \(ENOENT\)/,
  );
});

test("cluster inspect and update; events stream the changes", async () => {
  const ev = c.spawn(f, ["events", "--filter", "type=cluster"]);
  try {
    const before1 = JSON.parse((await c.fleet(f, ["cluster", "inspect"])).stdout);
    const u = await c.fleet(f, [
      "cluster",
      "update",
      "--task-history-limit",
      "3",
      "--heartbeat-period",
      "4s",
    ]);
    ok(u);
    assert.match(u.stdout, /^Cluster .* updated\.$/m);
    const after1 = JSON.parse((await c.fleet(f, ["cluster", "inspect"])).stdout);
    assert.equal(after1.spec.taskHistoryLimit, 3);
    assert.equal(after1.spec.heartbeatPeriodMs, 4000);
    assert.ok(after1.version > before1.version);
    const line = await until("a cluster event", () =>
      ev.out.stdout.split("\n").find((l) => l.includes('"update"')),
    );
    const e = JSON.parse(line);
    assert.equal(e.type, "cluster");
    assert.equal(e.action, "update");

    const none = await c.fleet(f, ["cluster", "update"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /nothing to update/);
    const dur = await c.fleet(f, ["cluster", "update", "--heartbeat-period", "soon"]);
    assert.equal(dur.code, 2);
    assert.match(dur.stderr, /heartbeat-period/);
    const arg = await c.fleet(f, ["cluster", "inspect", "extra"]);
    assert.equal(arg.code, 2);
    assert.match(arg.stderr, /"fleet cluster inspect" accepts no arguments/);
  } finally {
    ev.child.kill("SIGINT");
    assert.equal(await ev.exited, 0, ev.out.stderr);
  }
});

test("a manager that is down: the CLI says so; a survivor answers and takes writes", async () => {
  const leader = await c.managers.leader();
  const survivor = c.managers.running().find((id) => id !== leader)!;
  const ev = c.spawn(leader, ["events"]);
  await until("the event stream open", async () => {
    ok(await c.fleet(leader, ["node", "update", "--label-add", "probe=1", "edge-1"]));
    return ev.out.stdout.includes('"node"');
  });
  await c.managers.kill(leader);

  // The stream from the dead manager ends with an error, not silently.
  assert.equal(await ev.exited, 1, ev.out.stderr);
  assert.match(ev.out.stderr, /the event stream from unix:\/\/.* ended: .*manager/);

  const dead = await c.fleet(leader, ["node", "ls"]);
  assert.equal(dead.code, 1);
  assert.match(
    dead.stderr,
    /^Error: cannot reach a fleet manager at unix:\/\/.*fleet\.sock \(ECONNREFUSED\): is the manager running/,
  );

  // Reads answer at once from the survivor's replica; writes once a new leader is elected.
  const ls = await c.fleet(survivor, ["node", "ls"]);
  ok(ls);
  const created = await until(
    "a write through the survivor",
    async () => {
      const r = await c.fleet(survivor, ["service", "create", "--name", "after", "busybox"]);
      if (r.code !== 0) assert.match(r.stderr, /leader|quorum|unavailable/i, r.stderr);
      return r.code === 0 ? r : undefined;
    },
    60_000,
  );
  assert.match(created.stdout.trim().split("\n").at(-1)!, /^verify: Service after converged$/);
  const next = await c.managers.leader(30_000, leader);
  assert.notEqual(next, leader);
  const ps = await c.fleet(next, ["service", "ps", "after"]);
  ok(ps);
  assert.match(ps.stdout, /after\.1\s+busybox\s+edge-\d\s+Running/);
  const view = await c.fleet(survivor, ["node", "ls"]);
  ok(view);
  assert.match(view.stdout, new RegExp(`manager-${next}\\s+Ready\\s+Drain\\s+Leader`));
  assert.doesNotMatch(view.stdout, new RegExp(`manager-${leader}\\s+\\w+\\s+Drain\\s+Leader`));

  // One manager of three left: reads still answer from its replica; a write says why it fails.
  const other = c.managers.running().find((id) => id !== survivor)!;
  await c.managers.kill(other);
  const read = await c.fleet(survivor, ["service", "ls", "-q"]);
  ok(read);
  const lone = await c.fleet(survivor, ["service", "create", "-d", "--name", "lonely", "busybox"]);
  assert.equal(lone.code, 1, lone.stdout);
  assert.match(lone.stderr, /^Error: .*(leader|quorum)/im);
  assert.match(lone.stderr, /fewer than a majority of the managers are running/);
});
