// A store change is a list of actions. The leader's transaction produces them; Raft carries them
// (encoded with the codec); every replica applies them at the entry's index and reaches the
// identical state. Optimistic concurrency rides along: an update or delete names the version it
// read, and applying it against a different version fails the whole transaction everywhere.

import { FleetError } from "../errors.ts";
import type { AnyObject, TableName } from "../model/types.ts";
import { objectProblem } from "./shapes.ts";

export type StoreAction =
  | { op: "create"; table: TableName; object: AnyObject }
  | { op: "update"; table: TableName; object: AnyObject; expectedVersion: number }
  | { op: "delete"; table: TableName; id: string; expectedVersion: number };

export const tableNames: readonly TableName[] = ["clusters", "nodes", "services", "tasks"];

export class StoreError extends FleetError {
  constructor(
    code: "out_of_sequence" | "exists" | "not_found" | "name_conflict" | "invalid",
    message: string,
  ) {
    super("store", code, message, code === "out_of_sequence");
    this.name = "StoreError";
  }
}

export function outOfSequence(table: TableName, id: string, expected: number, actual: number) {
  return new StoreError(
    "out_of_sequence",
    `update out of sequence: ${table} ${id} is at version ${actual}, the update was based on ${expected}`,
  );
}

/** Checks the shape of an action decoded from a Raft entry (untrusted in the sense of "a bug
 * elsewhere must not corrupt the store"): returns a reason or undefined. */
export function actionProblem(a: unknown, deep = true): string | undefined {
  if (typeof a !== "object" || a === null) return "action is not a map";
  const x = a as Record<string, unknown>;
  if (!tableNames.includes(x.table as TableName)) return `unknown table ${String(x.table)}`;
  if (x.op === "delete") {
    if (typeof x.id !== "string" || x.id === "") return "delete needs an id";
    if (!Number.isSafeInteger(x.expectedVersion)) return "delete needs expectedVersion";
    return undefined;
  }
  if (x.op !== "create" && x.op !== "update") return `unknown op ${String(x.op)}`;
  const o = x.object as Record<string, unknown> | undefined;
  if (typeof o !== "object" || o === null || typeof o.id !== "string" || o.id === "")
    return `${x.op} needs an object with an id`;
  if (x.op === "update" && !Number.isSafeInteger(x.expectedVersion))
    return "update needs expectedVersion";
  return deep ? objectProblem(x.table as TableName, o) : undefined;
}
