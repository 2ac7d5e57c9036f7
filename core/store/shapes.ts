// Shapes of stored objects, checked when objects arrive as bytes (Raft entries, snapshots). They
// cover what the store and its indexes rely on; nested specs are checked as plain data.

import { type Shape, shape as s } from "../codec/shape.ts";
import { limits } from "../limits.ts";
import { TaskState } from "../model/task-state.ts";
import type { TableName } from "../model/types.ts";

const meta = { id: s.string(128, 1), version: s.int(), createdAt: s.int(), updatedAt: s.int() };
const labels = s.record(s.string(limits.labelValueLengthMax), limits.labelsPerObjectMax);
const plain = s.plain();

const shapes: Record<TableName, Shape> = {
  nodes: s.object(
    {
      ...meta,
      description: s.object({
        hostname: s.string(253),
        platform: s.object({ os: s.string(32), arch: s.string(32) }, { variant: s.string(16) }),
        resources: s.object({ nanoCPUs: s.int(), memoryBytes: s.int() }),
        engineLabels: labels,
      }),
      spec: s.object({
        role: s.oneOf(["worker", "manager"]),
        availability: s.oneOf(["active", "pause", "drain"]),
        labels,
      }),
      status: s.object(
        { state: s.oneOf(["unknown", "ready", "down", "disconnected"]) },
        {
          message: s.string(1024),
          addr: s.string(256),
          lastSeen: s.int(),
        },
      ),
    },
    { certificate: plain, managerStatus: plain },
  ),
  services: s.object(
    {
      ...meta,
      spec: s.object(
        { name: s.string(limits.nameLengthMax, 1), mode: plain, taskTemplate: plain },
        { labels, updateConfig: plain, rollbackConfig: plain, endpointSpec: plain },
      ),
      specVersion: s.int(),
    },
    { previousSpec: plain, updateStatus: plain },
  ),
  tasks: s.object({
    ...meta,
    serviceId: s.string(128),
    slot: s.int(),
    nodeId: s.string(128),
    spec: plain,
    specVersion: s.int(),
    desiredState: s.oneOf(Object.values(TaskState)),
    status: s.object(
      { state: s.oneOf(Object.values(TaskState)), timestamp: s.int(), message: s.string(4096) },
      { err: s.string(4096), containerId: s.string(128), exitCode: s.int(-2_147_483_648) },
    ),
  }),
  clusters: s.object(
    { ...meta, spec: plain },
    {
      rootCA: plain,
      joinTokens: plain,
      joinTokenStrings: plain,
      joinedKeys: s.array(s.string(64, 64), limits.joinedKeysStoredMax),
      revocations: plain,
      gossipKeys: plain,
    },
  ),
};

/** Returns what is wrong with an object for a table, or undefined. */
export function objectProblem(table: TableName, obj: unknown): string | undefined {
  return shapes[table](obj, table, 0);
}
