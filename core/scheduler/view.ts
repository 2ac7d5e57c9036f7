// What the scheduler reads and what it returns. The view is plain, read-only data (a snapshot
// of the store's tables); the plan is data the caller commits. The scheduler never writes.

import type { Node, Service, Task } from "../model/types.ts";

export interface SchedulerView {
  readonly nodes: readonly Node[];
  /**
   * Every task the scheduler should know about: active ones (ASSIGNED..RUNNING) occupy their
   * node's resources and ports and count for ranking and spread; unassigned ones (NEW or
   * PENDING, desired RUNNING or earlier) are what it places. A task with a nodeId that is
   * still PENDING (a global service's) is checked against that node only.
   */
  readonly tasks: readonly Task[];
  /** Services by id, for their published host ports. */
  readonly services: ReadonlyMap<string, Service>;
  /**
   * Service id -> ids of nodes where its tasks failed recently. The caller decides what
   * "recently" means (it owns the clock); those nodes are ranked last for that service.
   */
  readonly recentFailures?: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface ScheduleOptions {
  /** Seeds the node shuffle: the same view and seed give the same plan. */
  readonly seed: number;
}

export interface Plan {
  /** Task id -> node id, in the order the placements were made. */
  readonly assignments: ReadonlyMap<string, string>;
  /** Task id -> why no node can take it ("no suitable node (...)"): it stays PENDING. */
  readonly pending: ReadonlyMap<string, string>;
}
