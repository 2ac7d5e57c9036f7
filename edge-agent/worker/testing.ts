// Helpers for worker tests: assigned tasks, a recording sink, a settable clock.

import type { AssignedTask, TaskStatusUpdate } from "../../core/codec/index.ts";
import { TaskState, type TaskStateValue } from "../../core/model/task-state.ts";
import type { StatusSink } from "./worker.ts";

export class RecordingSink implements StatusSink {
  readonly updates: TaskStatusUpdate[] = [];
  report(u: TaskStatusUpdate): void {
    this.updates.push(u);
  }
  states(taskId: string): number[] {
    return this.updates.filter((u) => u.taskId === taskId).map((u) => u.state);
  }
  last(taskId: string): TaskStatusUpdate | undefined {
    return this.updates.filter((u) => u.taskId === taskId).at(-1);
  }
}

export class Clock {
  ms = 1_000_000;
  readonly now = () => this.ms;
}

export function task(
  id: string,
  containerSpec: Record<string, unknown>,
  more: { desiredState?: TaskStateValue; restartPolicy?: unknown; slot?: number } = {},
): AssignedTask {
  const spec: Record<string, unknown> = { containerSpec };
  if (more.restartPolicy) spec.restartPolicy = more.restartPolicy;
  return {
    id,
    serviceId: "svc1",
    serviceName: "web",
    slot: more.slot ?? 1,
    specVersion: 1,
    desiredState: more.desiredState ?? TaskState.RUNNING,
    spec,
  };
}

/** Asserts no task's reported states ever went backwards. */
export function forwardOnly(sink: RecordingSink): boolean {
  const last = new Map<string, number>();
  for (const u of sink.updates) {
    if ((last.get(u.taskId) ?? 0) > u.state) return false;
    last.set(u.taskId, u.state);
  }
  return true;
}
