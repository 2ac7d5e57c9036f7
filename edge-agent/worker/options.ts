// The Worker's collaborators and settings.

import type { TaskStatusUpdate } from "../../core/codec/index.ts";
import type { Executor } from "../executor/executor.ts";
import type { AgentState } from "../state/state.ts";

/** Where status changes go; the MQTT session implements it (batched, queued while offline). */
export interface StatusSink {
  report(update: TaskStatusUpdate): void;
}

export interface WorkerOptions {
  executor: Executor;
  nodeId: string;
  sink: StatusSink;
  /** What was persisted (last assignment and statuses). */
  initial?: AgentState;
  /** Whether `initial` came from a valid file; false keeps unknown containers until a manager
   * sends an assignment (a lost state file must not remove what runs). */
  initialTrusted?: boolean;
  /** Called after changes worth keeping (at most once per pass). */
  persist?: (state: AgentState) => void;
  now?: () => number;
  /** How often containers are looked at (exits, health). */
  pollIntervalMs?: number;
  /** No manager for this long: offline autonomy (the agent restarts exited tasks itself). */
  offlineAfterMs?: number;
  log?: (line: string) => void;
}
