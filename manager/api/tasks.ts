// /v1/tasks: list with filters (service, node, desired-state, id) and inspect. Tasks are written
// by the orchestrator, the scheduler and the agents, never through the API.

import { parseTaskState, TaskState, taskStateNames } from "../../core/model/task-state.ts";
import type { Task } from "../../core/model/types.ts";
import { by } from "../../core/store/indexes.ts";
import type { ReadTx } from "../../core/store/tx.ts";
import { ApiError } from "./errors.ts";
import { findNode, findService, findTask } from "./resolve.ts";
import type { ApiResponse, Call, Route } from "./router.ts";
import { taskView } from "./views.ts";

/** `desired-state` as `docker service ps` takes it: running, shutdown, accepted, or a state. */
function desiredStates(values: string[]): number[] {
  return values.map((v) => {
    const s = parseTaskState(v);
    if (s === undefined) {
      const names = taskStateNames.map((n) => n.toLowerCase()).join(", ");
      throw new ApiError("bad_request", `filter desired-state: unknown state "${v}" (${names})`);
    }
    return s;
  });
}

function candidates(tx: ReadTx, services: string[], nodes: string[]): Task[] {
  if (services.length > 0) {
    return services.flatMap((ref) => tx.find("tasks", by.serviceId(findService(tx, ref).id)));
  }
  if (nodes.length > 0) {
    return nodes.flatMap((ref) => tx.find("tasks", by.nodeId(findNode(tx, ref).id)));
  }
  return tx.find("tasks");
}

function order(a: Task, b: Task): number {
  if (a.serviceId !== b.serviceId) return a.serviceId < b.serviceId ? -1 : 1;
  if (a.slot !== b.slot) return a.slot - b.slot;
  if (a.nodeId !== b.nodeId) return a.nodeId < b.nodeId ? -1 : 1;
  return b.createdAt - a.createdAt;
}

function list(c: Call): ApiResponse {
  const services = c.query.all("service");
  const nodes = c.query.all("node");
  const ids = c.query.all("id");
  const desired = desiredStates(c.query.all("desired-state"));
  const body = c.ctx.store.view((tx) => {
    const nodeIds = nodes.map((ref) => findNode(tx, ref).id);
    return candidates(tx, services, nodes)
      .filter(
        (t) =>
          (nodeIds.length === 0 || nodeIds.includes(t.nodeId)) &&
          (ids.length === 0 || ids.some((i) => t.id.startsWith(i))) &&
          (desired.length === 0 || desired.some((d) => matchesDesired(t, d))),
      )
      .sort(order)
      .map(taskView);
  });
  return { status: 200, body };
}

/** Docker's `desired-state=running` also shows tasks still on their way to running. */
function matchesDesired(t: Task, d: number): boolean {
  if (d === TaskState.RUNNING) return t.desiredState <= TaskState.RUNNING;
  return t.desiredState === d;
}

function inspect(c: Call): ApiResponse {
  return { status: 200, body: c.ctx.store.view((tx) => taskView(findTask(tx, c.params.ref!))) };
}

export const taskRoutes: Route[] = [
  {
    method: "GET",
    path: "/v1/tasks",
    read: true,
    query: ["service", "node", "desired-state", "id"],
    handler: list,
  },
  { method: "GET", path: "/v1/tasks/:ref", read: true, handler: inspect },
];
