// The agent's durable memory in its data dir: the last assignment and the last status of each
// task, so that after a reboot with no manager it can run (and adopt) what it was given.
// Written atomically (tmp + fsync + rename + dir fsync). A damaged file is moved aside and
// reported as a StateError; the agent then starts empty, never crashes on it.

import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { AssignedTask, TaskStatusUpdate } from "../../core/codec/index.ts";
import { checkMessage, decodeCbor, encodeCbor } from "../../core/codec/index.ts";
import { FleetError } from "../../core/errors.ts";
import { isTaskState } from "../../core/model/task-state.ts";

export const STATE_FILE = "agent-state.cbor";
const STATE_VERSION = 1;

export interface Assignment {
  version: number;
  tasks: AssignedTask[];
}

export interface AgentState {
  /** The assignment last applied; version 0 and no tasks before the first. */
  assignment: Assignment;
  /** Last known status of each task, by task id. */
  statuses: Record<string, TaskStatusUpdate>;
}

export type StateErrorCode = "corrupt" | "io";

export class StateError extends FleetError {
  override readonly code: StateErrorCode;
  override readonly cause: unknown;

  constructor(code: StateErrorCode, message: string, cause?: unknown) {
    super("state", code, message, code === "io");
    this.name = "StateError";
    this.code = code;
    this.cause = cause;
  }
}

export function emptyState(): AgentState {
  return { assignment: { version: 0, tasks: [] }, statuses: {} };
}

/** Writes `bytes` to `path` so that a crash leaves either the old or the new file whole. */
export function atomicWrite(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    let at = 0;
    for (let i = 0; i < 1000 && at < bytes.length; i++) at += writeSync(fd, bytes, at);
    if (at < bytes.length) throw new Error(`short write to ${tmp}`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(join(path, ".."), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

function checkStatus(id: string, s: unknown): string | undefined {
  const u = s as TaskStatusUpdate;
  if (typeof u !== "object" || u === null) return `status of ${id} is not a map`;
  if (u.taskId !== id) return `status of ${id} names task ${String(u.taskId)}`;
  if (!isTaskState(u.state)) return `status of ${id} has no valid state`;
  if (typeof u.timestamp !== "number" || typeof u.message !== "string") {
    return `status of ${id} lacks timestamp or message`;
  }
  return undefined;
}

/** Validates a decoded state file; a message saying what is wrong, or undefined. */
export function checkState(value: unknown): string | undefined {
  const v = value as { v?: unknown; assignment?: unknown; statuses?: unknown };
  if (typeof v !== "object" || v === null) return "not a map";
  if (v.v !== STATE_VERSION) return `unsupported state version ${JSON.stringify(v.v)}`;
  const bad = checkMessage({ v: 1, type: "assign", ...(v.assignment as object) }, "assign");
  if (bad) return `assignment: ${bad.message}`;
  if (typeof v.statuses !== "object" || v.statuses === null) return "statuses is not a map";
  for (const [id, s] of Object.entries(v.statuses)) {
    const why = checkStatus(id, s);
    if (why) return why;
  }
  return undefined;
}

export interface Loaded {
  state: AgentState;
  /** Set when the file existed but could not be used (it was moved aside). */
  error?: StateError;
  /** False when the agent starts from nothing (no file, or a damaged one). */
  found: boolean;
}

/** Loads the state from `dataDir`; never throws for a damaged file. */
export function loadState(dataDir: string): Loaded {
  const path = join(dataDir, STATE_FILE);
  if (!existsSync(path)) return { state: emptyState(), found: false };
  let why: string | undefined;
  let value: unknown;
  try {
    value = decodeCbor(readFileSync(path));
    why = checkState(value);
  } catch (err) {
    why = err instanceof Error ? err.message : String(err);
  }
  if (why === undefined) {
    const { assignment, statuses } = value as AgentState;
    return { state: { assignment, statuses }, found: true };
  }
  const aside = `${path}.corrupt`;
  try {
    renameSync(path, aside);
  } catch {
    // Moving it aside is a courtesy for the operator; starting empty does not depend on it.
  }
  const error = new StateError(
    "corrupt",
    `${path} is damaged (${why}); moved to ${aside}, starting with no assignment until a ` +
      "manager sends one",
  );
  return { state: emptyState(), error, found: false };
}

/** Saves the state into `dataDir` atomically. Throws StateError("io") when the disk refuses. */
export function saveState(dataDir: string, state: AgentState): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const bytes = encodeCbor({ v: STATE_VERSION, ...state }, 16 * 1024 * 1024);
    atomicWrite(join(dataDir, STATE_FILE), bytes);
  } catch (err) {
    throw new StateError("io", `cannot save ${join(dataDir, STATE_FILE)}: ${String(err)}`, err);
  }
}
