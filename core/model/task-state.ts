// Task states only move forward. Values are spaced so new states can be inserted later without
// renumbering what is already on disk or on the wire (SwarmKit does the same).

export const TaskState = {
  NEW: 0,
  PENDING: 64,
  ASSIGNED: 192,
  ACCEPTED: 256,
  PREPARING: 320,
  READY: 384,
  STARTING: 448,
  RUNNING: 512,
  COMPLETE: 576,
  SHUTDOWN: 640,
  FAILED: 704,
  REJECTED: 768,
  REMOVE: 800,
  ORPHANED: 832,
} as const;

export type TaskStateName = keyof typeof TaskState;
export type TaskStateValue = (typeof TaskState)[TaskStateName];

export const taskStateNames = Object.keys(TaskState) as TaskStateName[];

const byValue = new Map<number, TaskStateName>(
  taskStateNames.map((name) => [TaskState[name], name]),
);

/** The states of a task on its way to running, in order: NEW through RUNNING. */
export const statesThroughRunning: readonly TaskStateValue[] = taskStateNames
  .map((name) => TaskState[name])
  .filter((v) => v <= TaskState.RUNNING);

export function isTaskState(value: unknown): value is TaskStateValue {
  return typeof value === "number" && byValue.has(value);
}

export function taskStateName(value: TaskStateValue): TaskStateName {
  const name = byValue.get(value);
  if (name === undefined) throw new Error(`assertion failed: unknown task state ${value}`);
  return name;
}

export function parseTaskState(name: string): TaskStateValue | undefined {
  const key = name.toUpperCase();
  return key in TaskState ? TaskState[key as TaskStateName] : undefined;
}

/** A task may stay where it is or move to a later state; never back. */
export function canTransition(from: TaskStateValue, to: TaskStateValue): boolean {
  return to >= from;
}

/** Moving a task backwards is a bug in the writer, not bad input: it throws. */
export function assertForward(from: TaskStateValue, to: TaskStateValue, what = "task"): void {
  if (!canTransition(from, to)) {
    throw new Error(
      `assertion failed: ${what} state moved backwards: ${taskStateName(from)} -> ${taskStateName(to)}`,
    );
  }
}

/** The task has stopped for good: nothing runs and nothing will. */
export function isTerminal(state: TaskStateValue): boolean {
  return state >= TaskState.COMPLETE;
}

/** The task occupies (or is about to occupy) resources on its node. */
export function isActive(state: TaskStateValue): boolean {
  return state >= TaskState.ASSIGNED && state <= TaskState.RUNNING;
}
