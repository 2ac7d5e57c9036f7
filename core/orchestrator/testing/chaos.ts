// The whole-lifecycle scenario: a small edge fleet (8 boards, one arm64, zones and storage
// labels), five kinds of service, and faults drawn from a seed: failed and slow starts,
// crashes, flapping and removed nodes, label changes, drains, scaling, updates good and bad,
// jobs recreated, leader changes. The checkers in checks.ts watch every tick; after the
// chaos, the faults stop (the operator resumes paused updates) and the fleet must converge.

import { defaultUpdateConfig } from "../../model/defaults.ts";
import { makeNode, makeTemplate } from "../../model/fixtures.ts";
import type { Node, ServiceSpec } from "../../model/types.ts";
import { createRng, type Rng } from "../../rand.ts";
import { DISCONNECT_GRACE_LABEL, REBALANCE_LABEL } from "../options.ts";
import type { AgentFaults } from "./agents.ts";
import { convergence, Safety } from "./checks.ts";
import { Harness, type HarnessOptions } from "./harness.ts";

const GRACE_MS = 5_000;
const CHAOS_MS = 60_000;
const HEAL_MS = 120_000;

function fleetNodes(): Node[] {
  const nodes: Node[] = [];
  for (let i = 1; i <= 8; i++) {
    const labels = { zone: i % 2 ? "a" : "b", storage: i <= 3 ? "ssd" : "sd" };
    nodes.push(makeNode(`n${i}`, { labels }));
  }
  const arm = nodes[7]!;
  nodes[7] = {
    ...arm,
    description: { ...arm.description, platform: { os: "linux", arch: "aarch64" } },
  };
  return nodes;
}

const grace = { [DISCONNECT_GRACE_LABEL]: `${GRACE_MS / 1000}s` };
const update = { ...defaultUpdateConfig, parallelism: 2, monitorMs: 1_000, delayMs: 500 };

function services(): [string, Partial<ServiceSpec>][] {
  return [
    [
      "web",
      {
        mode: { replicated: { replicas: 8 } },
        labels: grace,
        updateConfig: { ...update, failureAction: "rollback" },
      },
    ],
    [
      "db",
      {
        mode: { replicated: { replicas: 2 } },
        labels: grace,
        taskTemplate: makeTemplate({ placement: { constraints: ["node.labels.storage==ssd"] } }),
      },
    ],
    [
      "edge",
      {
        mode: { global: {} },
        taskTemplate: makeTemplate({
          placement: {
            constraints: ["node.labels.zone==a"],
            platforms: [{ os: "linux", arch: "amd64" }],
          },
        }),
      },
    ],
    [
      "batch",
      { mode: { replicatedJob: { totalCompletions: 6, maxConcurrent: 2 } }, labels: grace },
    ],
    ["once", { mode: { globalJob: {} } }],
    [
      "cache",
      {
        mode: { replicated: { replicas: 5 } },
        labels: { ...grace, [REBALANCE_LABEL]: "gradual" },
        updateConfig: { ...update, order: "start-first", failureAction: "pause" },
      },
    ],
  ];
}

type Fault = (h: Harness, rng: Rng, safety: Safety) => void;

const setImage =
  (img: string) =>
  (s: ServiceSpec): ServiceSpec => ({
    ...s,
    taskTemplate: {
      ...s.taskTemplate,
      containerSpec: { ...s.taskTemplate.containerSpec, image: img },
    },
  });

/** Everyday trouble on an edge fleet. */
const mildFaults: Fault[] = [
  (h, _rng, safety) => {
    h.failover();
    // The new leader starts every lost node's grace afresh (node-failure.ts).
    for (const id of safety.lostSince.keys()) safety.lostSince.set(id, h.nowMs);
  },
  (h, rng, safety) => {
    const id = `n${1 + rng.int(8)}`;
    if (h.node(id) === undefined) return;
    const down = h.node(id).status.state !== "ready";
    h.setNodeState(id, down ? "ready" : "down");
    if (down) safety.lostSince.delete(id);
    else safety.lostSince.set(id, h.nowMs);
  },
  (h, rng) => {
    // Half the time, take the storage label away from a node that runs the database.
    const db = h.runnable("db").filter((t) => t.nodeId !== "");
    const id = db.length > 0 && rng.int(2) ? db[rng.int(db.length)]!.nodeId : `n${1 + rng.int(8)}`;
    const n = h.node(id);
    if (n === undefined) return;
    const storage = n.spec.labels.storage === "ssd" ? "sd" : "ssd";
    h.setLabels(id, { ...n.spec.labels, storage, zone: rng.int(2) ? "a" : "b" });
  },
  (h, rng) => {
    const id = `n${1 + rng.int(8)}`;
    if (h.node(id) === undefined) return;
    h.setAvailability(id, h.node(id).spec.availability === "active" ? "drain" : "active");
  },
  (h, rng) =>
    h.updateService("web", (s) => ({ ...s, mode: { replicated: { replicas: 4 + rng.int(8) } } })),
  (h, rng) => h.updateService("web", setImage(`v${rng.int(1000)}`)),
  (h) => h.updateService("web", setImage("bad")),
  (h, rng) => h.updateService("cache", setImage(`c${rng.int(1000)}`)),
];

/** Rarer, rougher events: nodes removed and re-added, a job deleted and recreated. */
const harshFaults: Fault[] = [
  (h, rng, safety) => {
    // remove a node (after it went down) and later a fresh one joins with the same labels
    const id = `n${1 + rng.int(8)}`;
    const n = h.node(id);
    if (n === undefined) {
      h.addNode(fleetNodes()[Number(id.slice(1)) - 1]!);
      return;
    }
    h.setNodeState(id, "down");
    safety.lostSince.delete(id);
    h.removeNode(id);
  },
  (h, rng) => {
    h.deleteService("batch");
    h.createService("batch", {
      mode: { replicatedJob: { totalCompletions: 1 + rng.int(6), maxConcurrent: 1 + rng.int(3) } },
      labels: grace,
    });
  },
  (h, rng) =>
    h.updateService("db", (s) => ({ ...s, mode: { replicated: { replicas: 1 + rng.int(3) } } })),
  (h) =>
    h.updateService("edge", (s) => ({
      ...s,
      taskTemplate: { ...s.taskTemplate, forceUpdate: s.taskTemplate.forceUpdate + 1 },
    })),
];

export interface Profile {
  /** Chance per 100 ms tick that a fault happens. */
  faultRate: number;
  harsh: boolean;
  agents: AgentFaults;
}

export const MILD: Profile = {
  faultRate: 0.05,
  harsh: false,
  agents: { failStartRate: 0.05, slowStartRate: 0.2, slowStartSteps: 15, crashRate: 0.0005 },
};

export const HARSH: Profile = {
  faultRate: 0.15,
  harsh: true,
  agents: { failStartRate: 0.3, slowStartRate: 0.3, slowStartSteps: 15, crashRate: 0.01 },
};

/**
 * One run: services created, a chaos phase with safety checks after every tick, then the
 * faults stop and the fleet must converge. Throws (with the seed) on any violation.
 */
/** core/ stays free of node: modules outside *.test.ts, so this throws by hand. */
function expectSafe(safety: Safety, what: string): void {
  if (safety.violations.length > 0) throw new Error(`${what}: ${safety.violations.join("; ")}`);
}

export function runLifecycle(seed: number, profile: Profile, loops?: HarnessOptions["loops"]) {
  const badImages = new Set(["bad"]);
  const faults = { ...profile.agents, badImages };
  const h = new Harness({ seed, nodes: fleetNodes(), faults, ...(loops ? { loops } : {}) });
  const rng = createRng(seed + 7);
  const safety = new Safety(h.store);
  const chaos = profile.harsh ? [...mildFaults, ...harshFaults] : mildFaults;
  for (const [id, spec] of services()) h.createService(id, spec);
  const end = h.nowMs + CHAOS_MS;
  while (h.nowMs < end) {
    if (rng.float() < profile.faultRate) chaos[rng.int(chaos.length)]!(h, rng, safety);
    h.tick();
    safety.check(h.nowMs, 1_000);
  }
  expectSafe(safety, `safety during chaos (seed ${seed})`);
  heal(h, safety);
  try {
    h.runUntil(() => convergence(h.store).length === 0, HEAL_MS, "convergence");
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${convergence(h.store).join("; ")}`);
  }
  safety.check(h.nowMs, 1_000);
  expectSafe(safety, `safety while healing (seed ${seed})`);
  safety.close();
}

function heal(h: Harness, safety: Safety): void {
  h.agents.faults = { badImages: new Set(["bad"]) };
  for (let i = 1; i <= 8; i++) {
    if (h.node(`n${i}`) === undefined) h.addNode(fleetNodes()[i - 1]!);
    const n = h.node(`n${i}`);
    if (n.status.state !== "ready") h.setNodeState(n.id, "ready");
    safety.lostSince.delete(n.id);
    if (n.spec.availability !== "active") h.setAvailability(n.id, "active");
    const labels = fleetNodes()[i - 1]!.spec.labels;
    if (JSON.stringify(n.spec.labels) !== JSON.stringify(labels)) h.setLabels(n.id, labels);
  }
  // A paused update holds until the operator acts: that is what the operator does here.
  const web = h.service("web");
  if (
    web.spec.taskTemplate.containerSpec.image === "bad" ||
    web.updateStatus?.state.endsWith("paused")
  )
    h.updateService("web", setImage("healed"));
  for (const id of ["cache", "edge"]) {
    if (h.service(id).updateStatus?.state.endsWith("paused")) {
      h.updateService(id, (s) => ({
        ...s,
        taskTemplate: { ...s.taskTemplate, forceUpdate: s.taskTemplate.forceUpdate + 1 },
      }));
    }
  }
}
