// Properties over random fleets: placements respect every filter (checked independently of
// the pipeline), nothing is left pending while a node could still take it, the same seed
// gives the same plan, and spread is balanced within 1 per level when capacity allows.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { matchConstraints } from "../constraint/match.ts";
import { parseConstraints } from "../constraint/parse.ts";
import { TaskState } from "../model/task-state.ts";
import type { Node, Task } from "../model/types.ts";
import { schedule } from "./schedule.ts";
import {
  CPU,
  GB,
  makeNode,
  makePending,
  makeService,
  makeTask,
  makeTemplate,
  makeView,
} from "./testing.ts";

const ARCH_OF: Record<string, string> = { x86_64: "amd64", aarch64: "arm64", armv7l: "arm" };

const nodeArb = fc.record({
  state: fc.constantFrom("ready", "ready", "ready", "down"),
  availability: fc.constantFrom("active", "active", "active", "pause", "drain"),
  zone: fc.constantFrom("a", "b", "c", undefined),
  storage: fc.constantFrom("ssd", "hdd"),
  memoryBytes: fc.constantFrom(1 * GB, 2 * GB, 4 * GB),
  nanoCPUs: fc.constantFrom(1 * CPU, 2 * CPU, 4 * CPU),
  arch: fc.constantFrom("x86_64", "aarch64", "armv7l"),
});

const groupArb = fc.record({
  n: fc.integer({ min: 0, max: 30 }),
  constraints: fc.subarray([
    "node.labels.storage==ssd",
    "node.platform.arch!=armhf",
    "node.labels.zone in (a, b)",
  ]),
  spread: fc.constantFrom([], ["node.labels.zone"], ["node.labels.zone", "node.labels.storage"]),
  maxReplicasPerNode: fc.integer({ min: 0, max: 3 }),
  memoryBytes: fc.constantFrom(0, GB / 2, GB),
  nanoCPUs: fc.constantFrom(0, CPU),
  port: fc.boolean(),
  amd64Only: fc.boolean(),
});

const fleetArb = fc.record({
  nodes: fc.array(nodeArb, { minLength: 0, maxLength: 12 }),
  running: fc.array(
    fc.record({
      node: fc.nat(),
      service: fc.constantFrom("p", "q"),
      mem: fc.constantFrom(0, GB / 2),
    }),
    { maxLength: 10 },
  ),
  group: groupArb,
  seed: fc.integer(),
});

type Fleet = ReturnType<typeof build>;

type FleetInput = typeof fleetArb extends fc.Arbitrary<infer T> ? T : never;

function build(f: FleetInput) {
  const nodes = f.nodes.map((o, i) => {
    const labels: Record<string, string> = { storage: o.storage };
    if (o.zone !== undefined) labels.zone = o.zone;
    return makeNode(`n${i}`, {
      state: o.state,
      availability: o.availability,
      labels,
      memoryBytes: o.memoryBytes,
      nanoCPUs: o.nanoCPUs,
      arch: o.arch,
    });
  });
  const running: Task[] =
    nodes.length === 0
      ? []
      : f.running.map((r, i) =>
          makeTask(`r${i}`, r.service, {
            nodeId: nodes[r.node % nodes.length]!.id,
            state: TaskState.RUNNING,
            template: makeTemplate({ memoryBytes: r.mem }),
          }),
        );
  const g = f.group;
  const template = makeTemplate({
    constraints: g.constraints,
    spread: [...g.spread],
    maxReplicasPerNode: g.maxReplicasPerNode,
    memoryBytes: g.memoryBytes,
    nanoCPUs: g.nanoCPUs,
    platforms: g.amd64Only ? [{ os: "linux", arch: "amd64" }] : [],
  });
  const pending = makePending("p", g.n, template);
  const services = [makeService("p", g.port ? [{ publishedPort: 8080 }] : []), makeService("q")];
  return {
    nodes,
    running,
    pending,
    g,
    template,
    view: makeView(nodes, [...running, ...pending], services),
    seed: f.seed,
  };
}

/** Everything a node holds at the end: what ran before plus this plan's placements. */
function finalState(x: Fleet, assignments: ReadonlyMap<string, string>) {
  const state = new Map(
    x.nodes.map((n) => [
      n.id,
      {
        mem: n.description.resources.memoryBytes,
        cpu: n.description.resources.nanoCPUs,
        p: 0,
        pBefore: 0,
      },
    ]),
  );
  for (const t of x.running) {
    const s = state.get(t.nodeId)!;
    s.mem -= t.spec.resources.reservations?.memoryBytes ?? 0;
    if (t.serviceId === "p") {
      s.p++;
      s.pBefore++;
    }
  }
  for (const nodeId of assignments.values()) {
    const s = state.get(nodeId)!;
    s.mem -= x.g.memoryBytes;
    s.cpu -= x.g.nanoCPUs;
    s.p++;
  }
  return state;
}

/** The static filters, written out independently of the pipeline. */
function staticOk(x: Fleet, node: Node): boolean {
  if (node.status.state !== "ready" || node.spec.availability !== "active") return false;
  if (x.g.amd64Only && ARCH_OF[node.description.platform.arch] !== "amd64") return false;
  return matchConstraints(parseConstraints(x.g.constraints), node);
}

test("placements pass every filter, and nothing stays pending while a node has room", () => {
  fc.assert(
    fc.property(fleetArb, (f) => {
      const x = build(f);
      const plan = schedule(x.view, { seed: x.seed });
      assert.equal(plan.assignments.size + plan.pending.size, x.g.n);
      const state = finalState(x, plan.assignments);
      const byId = new Map(x.nodes.map((n) => [n.id, n]));
      const placed = new Map<string, number>();
      for (const id of plan.assignments.values()) placed.set(id, (placed.get(id) ?? 0) + 1);
      for (const [id, count] of placed) {
        const s = state.get(id)!;
        assert.ok(staticOk(x, byId.get(id)!), `${id} fails a static filter`);
        if (x.g.memoryBytes > 0) assert.ok(s.mem >= 0, `${id} overcommitted memory`);
        if (x.g.nanoCPUs > 0) assert.ok(s.cpu >= 0, `${id} overcommitted cpu`);
        if (x.g.port) assert.ok(s.pBefore === 0 && count === 1, `${id} host port reused`);
        if (x.g.maxReplicasPerNode > 0) assert.ok(s.p <= x.g.maxReplicasPerNode, `${id} over max`);
      }
      if (plan.pending.size === 0) return;
      for (const node of x.nodes) {
        const s = state.get(node.id)!;
        const full =
          !staticOk(x, node) ||
          (x.g.memoryBytes > 0 && s.mem < x.g.memoryBytes) ||
          (x.g.nanoCPUs > 0 && s.cpu < x.g.nanoCPUs) ||
          (x.g.port && s.p > 0 && (s.pBefore > 0 || (placed.get(node.id) ?? 0) > 0)) ||
          (x.g.maxReplicasPerNode > 0 && s.p >= x.g.maxReplicasPerNode);
        assert.ok(full, `${node.id} could take a pending task`);
      }
      for (const msg of plan.pending.values())
        assert.match(msg, /^no suitable node \((.+ on \d+ nodes?|no nodes in the cluster)\)$/);
    }),
    { numRuns: 400 },
  );
});

test("the same view and seed give the same plan", () => {
  fc.assert(
    fc.property(fleetArb, (f) => {
      const x = build(f);
      const a = schedule(x.view, { seed: x.seed });
      const b = schedule(build(f).view, { seed: x.seed });
      assert.deepEqual([...b.assignments], [...a.assignments]);
      assert.deepEqual([...b.pending], [...a.pending]);
    }),
    { numRuns: 200 },
  );
});

test("spread is balanced within 1 per level when capacity allows", () => {
  const arb = fc.record({
    labels: fc.array(
      fc.record({ zone: fc.constantFrom("a", "b", "c", ""), rack: fc.constantFrom("1", "2", "") }),
      {
        minLength: 1,
        maxLength: 15,
      },
    ),
    n: fc.integer({ min: 0, max: 60 }),
    seed: fc.integer(),
  });
  fc.assert(
    fc.property(arb, ({ labels, n, seed }) => {
      const nodes = labels.map((l, i) => {
        const out: Record<string, string> = {};
        if (l.zone !== "") out.zone = l.zone;
        if (l.rack !== "") out.rack = l.rack;
        return makeNode(`n${i}`, { labels: out });
      });
      const t = makeTemplate({ spread: ["node.labels.zone", "node.labels.rack"] });
      const plan = schedule(makeView(nodes, makePending("p", n, t)), { seed });
      assert.equal(plan.assignments.size, n);
      const byId = new Map(nodes.map((node) => [node.id, node]));
      const zones = new Map<string, Map<string, number>>();
      for (const z of new Set(nodes.map((node) => node.spec.labels.zone ?? "")))
        zones.set(z, new Map());
      for (const node of nodes)
        zones.get(node.spec.labels.zone ?? "")!.set(node.spec.labels.rack ?? "", 0);
      for (const id of plan.assignments.values()) {
        const node = byId.get(id)!;
        const racks = zones.get(node.spec.labels.zone ?? "")!;
        const rack = node.spec.labels.rack ?? "";
        racks.set(rack, racks.get(rack)! + 1);
      }
      const spreadOk = (counts: number[]) => Math.max(...counts) - Math.min(...counts) <= 1;
      const zoneTotals = [...zones.values()].map((r) => [...r.values()].reduce((a, b) => a + b, 0));
      assert.ok(spreadOk(zoneTotals), `zones ${zoneTotals}`);
      for (const racks of zones.values())
        assert.ok(spreadOk([...racks.values()]), `racks ${[...racks.values()]}`);
    }),
    { numRuns: 300 },
  );
});
