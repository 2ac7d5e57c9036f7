// Scheduler placement rate: `npm run bench -- scheduler --nodes 10000 --tasks 100000`.
// Places every task of a fresh fleet twice: with one constraint and a spread preference (the
// common edge case: "on SSD nodes, spread over zones"), and with neither. Only schedule() is
// timed; building the view is not. Each scenario runs --runs times and the median counts.

import { performance } from "node:perf_hooks";
import { TaskState } from "../../core/model/task-state.ts";
import type { Node, Task } from "../../core/model/types.ts";
import { schedule } from "../../core/scheduler/schedule.ts";
import {
  CPU,
  GB,
  makeNode,
  makePending,
  makeTask,
  makeTemplate,
  makeView,
} from "../../core/scheduler/testing.ts";
import type { SchedulerView } from "../../core/scheduler/view.ts";
import { type Bench, numberFlag, table } from "./run.ts";

const ZONES = 10;

function fleet(nodeCount: number): Node[] {
  return Array.from({ length: nodeCount }, (_, i) =>
    makeNode(`node-${i}`, {
      hostname: `edge-${i}`,
      arch: i % 4 === 0 ? "aarch64" : "x86_64",
      labels: { zone: `z${i % ZONES}`, storage: i % 3 === 2 ? "hdd" : "ssd" },
      engineLabels: { "hw.storage": i % 3 === 2 ? "hdd" : "ssd" },
      memoryBytes: 8 * GB,
      nanoCPUs: 4 * CPU,
    }),
  );
}

/** Some tasks already run (one per node), so the counts and reservations are not all zero. */
function runningTasks(nodes: readonly Node[]): Task[] {
  return nodes.map((n, i) =>
    makeTask(`running-${i}`, "base", {
      nodeId: n.id,
      state: TaskState.RUNNING,
      template: makeTemplate({ memoryBytes: GB / 4 }),
    }),
  );
}

function view(nodes: Node[], tasks: number, services: number, constrained: boolean) {
  const template = makeTemplate({
    constraints: constrained ? ["node.labels.storage==ssd"] : [],
    spread: constrained ? ["node.labels.zone"] : [],
    memoryBytes: 64e6,
    nanoCPUs: CPU / 20,
  });
  const pending: Task[] = [];
  for (let s = 0; s < services; s++) {
    const share = Math.floor(tasks / services) + (s < tasks % services ? 1 : 0);
    pending.push(...makePending(`svc-${s}`, share, template));
  }
  return makeView(nodes, [...runningTasks(nodes), ...pending]);
}

function measure(v: SchedulerView, tasks: number, runs: number, seed: number) {
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const plan = schedule(v, { seed: seed + r });
    const ms = performance.now() - t0;
    if (plan.assignments.size !== tasks) {
      const [, why] = plan.pending.entries().next().value ?? [];
      throw new Error(`placed ${plan.assignments.size} of ${tasks} tasks: ${why}`);
    }
    rates.push(tasks / (ms / 1000));
  }
  rates.sort((a, b) => a - b);
  return Math.round(rates[Math.floor(rates.length / 2)]!);
}

export const bench: Bench = {
  description: "scheduler placements per second (--nodes, --tasks, --services, --runs, --seed)",
  async run(ctx) {
    const nodeCount = numberFlag(ctx.args, "nodes", 10_000);
    const tasks = numberFlag(ctx.args, "tasks", 100_000);
    const services = numberFlag(ctx.args, "services", 10);
    const runs = numberFlag(ctx.args, "runs", 3);
    const seed = numberFlag(ctx.args, "seed", 1);
    const nodes = fleet(nodeCount);
    // Warm the JIT on a small fleet so the first measured run is not the compile.
    measure(view(nodes.slice(0, 500), 5000, 5, true), 5000, 1, seed);
    const constrained = measure(view(nodes, tasks, services, true), tasks, runs, seed);
    const unconstrained = measure(view(nodes, tasks, services, false), tasks, runs, seed);
    ctx.log(
      table([
        ["scenario", "nodes", "tasks", "services", "placements/s"],
        ["constraint + spread", nodeCount, tasks, services, constrained],
        ["unconstrained", nodeCount, tasks, services, unconstrained],
      ]),
    );
    return { placementsPerSec: constrained, placementsPerSecUnconstrained: unconstrained };
  },
};
