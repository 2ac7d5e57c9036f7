// /v1/services: create, list (with running/desired counts), inspect, update with optimistic
// concurrency (previousSpec kept, specVersion bumped, `force` bumps taskTemplate.forceUpdate),
// rollback to previousSpec, remove, logs. The API writes specs only: the orchestrator makes the
// tasks and the update loop rolls them.

import type { Service, ServiceSpec, Task } from "../../core/model/types.ts";
import { validateServiceSpec } from "../../core/model/validate.ts";
import { by } from "../../core/store/indexes.ts";
import type { ReadTx, WriteTx } from "../../core/store/tx.ts";
import { ApiError, invalidSpec } from "./errors.ts";
import type { LogOptions, LogSource, LogTarget } from "./logs.ts";
import { findService, findTask } from "./resolve.ts";
import type { ApiResponse, Call, Query, Route } from "./router.ts";
import { modeName, serviceView } from "./views.ts";

export interface ServiceDeps {
  logs?: LogSource;
}

const ok = (body: unknown, status = 200): ApiResponse => ({ status, body });

function validSpec(body: unknown): ServiceSpec {
  const v = validateServiceSpec(body);
  if (!v.ok) throw invalidSpec("service", v.problems);
  return v.value;
}

function serviceFilter(q: Query): (s: Service) => boolean {
  const ids = q.all("id");
  const names = q.all("name").map((s) => s.toLowerCase());
  const modes = q.all("mode");
  const labels = q.all("label");
  const known = ["replicated", "global", "replicated-job", "global-job"];
  for (const m of modes)
    if (!known.includes(m))
      throw new ApiError("bad_request", `filter mode: expected one of ${known.join(", ")}`);
  return (s) =>
    (ids.length === 0 || ids.some((i) => s.id.startsWith(i))) &&
    (names.length === 0 || names.some((n) => s.spec.name.toLowerCase().startsWith(n))) &&
    (modes.length === 0 || modes.includes(modeName(s))) &&
    labels.every((l) => {
      const [k, v] = l.split("=", 2) as [string, string | undefined];
      return v === undefined ? Object.hasOwn(s.spec.labels, k) : s.spec.labels[k] === v;
    });
}

function list(c: Call): ApiResponse {
  const keep = serviceFilter(c.query);
  return ok(
    c.ctx.store.view((tx) =>
      tx
        .find("services")
        .filter(keep)
        .sort((a, b) => (a.spec.name < b.spec.name ? -1 : 1))
        .map((s) => serviceView(tx, s)),
    ),
  );
}

function inspect(c: Call): ApiResponse {
  return ok(c.ctx.store.view((tx) => serviceView(tx, findService(tx, c.params.ref!))));
}

async function create(c: Call): Promise<ApiResponse> {
  const spec = validSpec(c.body);
  const now = c.ctx.now();
  const id = c.ctx.newId();
  const service: Service = { id, version: 0, createdAt: now, updatedAt: now, spec, specVersion: 1 };
  await c.ctx.writer.update((tx) => tx.create("services", service));
  return ok({ id }, 201);
}

/** A new spec for the service, as `service update` writes it. */
function respec(tx: WriteTx, cur: Service, version: number, spec: ServiceSpec, now: number) {
  tx.update("services", {
    ...cur,
    version,
    spec,
    previousSpec: cur.spec,
    specVersion: cur.specVersion + 1,
    updatedAt: now,
  });
}

async function update(c: Call): Promise<ApiResponse> {
  const version = c.query.version("service");
  const force = c.query.bool("force");
  const spec = validSpec(c.body);
  const now = c.ctx.now();
  const id = await c.ctx.writer.update((tx) => {
    const cur = findService(tx, c.params.ref!);
    if (force) {
      const counter = Math.max(spec.taskTemplate.forceUpdate, cur.spec.taskTemplate.forceUpdate);
      spec.taskTemplate = { ...spec.taskTemplate, forceUpdate: counter + 1 };
    }
    respec(tx, cur, version, spec, now);
    return cur.id;
  });
  return ok({ id });
}

async function rollback(c: Call): Promise<ApiResponse> {
  const version = c.query.int("version");
  const now = c.ctx.now();
  const id = await c.ctx.writer.update((tx) => {
    const cur = findService(tx, c.params.ref!);
    if (!cur.previousSpec) {
      throw new ApiError(
        "failed_precondition",
        `service ${cur.spec.name} has no previous spec to roll back to (it was never updated)`,
      );
    }
    tx.update("services", {
      ...cur,
      version: version ?? cur.version,
      spec: cur.previousSpec,
      previousSpec: cur.spec,
      specVersion: cur.specVersion + 1,
      updateStatus: {
        state: "rollback_started",
        startedAt: now,
        message: "manually requested rollback",
        specVersion: cur.specVersion + 1,
      },
      updatedAt: now,
    });
    return cur.id;
  });
  return ok({ id });
}

async function remove(c: Call): Promise<ApiResponse> {
  const id = await c.ctx.writer.update((tx) => {
    const cur = findService(tx, c.params.ref!);
    tx.delete("services", cur.id);
    return cur.id;
  });
  return ok({ id });
}

/** `SERVICE` (all its tasks) or `TASK` (a task id or unique prefix) for the logs route. */
function logTarget(tx: ReadTx, ref: string): LogTarget {
  let service: Service;
  try {
    service = findService(tx, ref);
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== "not_found") throw err;
    let task: Task;
    try {
      task = findTask(tx, ref);
    } catch (e) {
      if (e instanceof ApiError && e.code === "not_found") {
        throw new ApiError(
          "not_found",
          `no such service or task: ${ref} (list them with \`fleet service ls\`)`,
        );
      }
      throw e;
    }
    const owner = tx.get("services", task.serviceId);
    if (!owner) throw new ApiError("not_found", `task ${ref} belongs to a removed service`);
    return { service: owner, tasks: [task] };
  }
  return { service, tasks: tx.find("tasks", by.serviceId(service.id)) };
}

function logs(c: Call<ServiceDeps>): ApiResponse {
  const target = c.ctx.store.view((tx) => logTarget(tx, c.params.ref!));
  const source = c.services.logs;
  if (!source) {
    throw new ApiError(
      "not_implemented",
      `logs of service ${target.service.spec.name} cannot be read through this manager: it ` +
        "runs without a broker to reach the agents (read them on the board with `docker logs`; " +
        "containers carry the label fleet.task.id)",
    );
  }
  const options: LogOptions = { follow: c.query.bool("follow") };
  const tail = c.query.int("tail");
  if (tail !== undefined) options.tail = tail;
  const since = c.query.int("since");
  if (since !== undefined) options.sinceMs = since;
  return { status: 200, stream: (sink) => source.stream(target, options, sink) };
}

export const serviceRoutes: Route<ServiceDeps>[] = [
  {
    method: "GET",
    path: "/v1/services",
    read: true,
    query: ["id", "name", "mode", "label"],
    handler: list,
  },
  { method: "POST", path: "/v1/services/create", body: true, handler: create },
  { method: "GET", path: "/v1/services/:ref", read: true, handler: inspect },
  {
    method: "POST",
    path: "/v1/services/:ref/update",
    query: ["version", "force"],
    body: true,
    handler: update,
  },
  { method: "POST", path: "/v1/services/:ref/rollback", query: ["version"], handler: rollback },
  { method: "DELETE", path: "/v1/services/:ref", handler: remove },
  {
    method: "GET",
    path: "/v1/services/:ref/logs",
    query: ["follow", "tail", "since"],
    handler: logs,
  },
];
