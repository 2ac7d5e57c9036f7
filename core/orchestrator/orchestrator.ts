// Wires the control loops to one store and steps them; nothing else. The loops never call one
// another: each reacts to its own watch of the store. A driver (the manager's leader, or a
// test with a fake clock) calls `step(now)` whenever the store changed or the next deadline
// came, and sleeps until `nextDeadlineMs()` or the next store change otherwise.

import { limits } from "../limits.ts";
import type { Store } from "../store/store.ts";
import { ConstraintEnforcer } from "./constraint-enforcer.ts";
import { GlobalLoop } from "./global.ts";
import { ReplicatedJobLoop } from "./jobs.ts";
import { type ControlLoop, type LoopOptions, OrchestratorError } from "./loop.ts";
import { NodeFailureLoop } from "./node-failure.ts";
import { TaskReaper } from "./reaper.ts";
import { RebalanceLoop } from "./rebalance.ts";
import { ReplicatedLoop } from "./replicated.ts";
import { RestartLoop } from "./restart.ts";
import { SchedulingLoop } from "./scheduling.ts";
import { UpdateLoop } from "./update.ts";

/** Every loop, in the order a step runs them (any order converges; this one is quickest). */
export function createLoops(store: Store, options: LoopOptions): ControlLoop[] {
  return [
    new ReplicatedLoop(store, options),
    new GlobalLoop(store, options),
    new ReplicatedJobLoop(store, options),
    new RestartLoop(store, options),
    new NodeFailureLoop(store, options),
    new ConstraintEnforcer(store, options),
    new UpdateLoop(store, options),
    new RebalanceLoop(store, options),
    new TaskReaper(store, options),
    new SchedulingLoop(store, options),
  ];
}

export class Orchestrator {
  readonly loops: readonly ControlLoop[];

  constructor(store: Store, options: LoopOptions, loops?: readonly ControlLoop[]) {
    this.loops = loops ?? createLoops(store, options);
  }

  /**
   * Steps every loop that has events queued or a timer due, until none has: the store has
   * settled for `nowMs`. Loops that keep waking each other are a bug, reported loudly.
   */
  step(nowMs: number): number {
    for (let round = 0; round < limits.orchestratorSettleRoundsMax; round++) {
      let stepped = false;
      for (const loop of this.loops) {
        const due = loop.nextDeadlineMs();
        if (loop.pendingEvents === 0 && (due === undefined || due > nowMs)) continue;
        loop.step(nowMs);
        stepped = true;
      }
      if (!stepped) return round;
    }
    const busy = this.loops
      .filter(
        (l) => l.pendingEvents > 0 || (l.nextDeadlineMs() ?? Number.POSITIVE_INFINITY) <= nowMs,
      )
      .map((l) => l.name);
    throw new OrchestratorError(
      "not_settling",
      `loops did not settle in ${limits.orchestratorSettleRoundsMax} rounds ` +
        `(still busy: ${busy.join(", ")})`,
    );
  }

  /** When the next timer of any loop falls due (the driver's wake-up time), or undefined. */
  nextDeadlineMs(): number | undefined {
    let min: number | undefined;
    for (const l of this.loops) {
      const d = l.nextDeadlineMs();
      if (d !== undefined && (min === undefined || d < min)) min = d;
    }
    return min;
  }

  get<T extends ControlLoop>(kind: abstract new (...args: never[]) => T): T {
    const l = this.loops.find((x) => x instanceof kind);
    if (l === undefined) throw new Error(`assertion failed: no ${kind.name} loop`);
    return l as T;
  }

  close(): void {
    for (const l of this.loops) l.close();
  }
}
