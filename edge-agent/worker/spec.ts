// Reads an assigned task's spec (untrusted: it arrived over the wire as `plain`) into the
// container to create, its restart policy and its grace period. A bad spec is a SpecError that
// costs that task only (it is REJECTED); it never throws anything else.

import type { AssignedTask } from "../../core/codec/index.ts";
import { FleetError } from "../../core/errors.ts";
import { defaultRestartPolicy, defaultStopGracePeriodMs } from "../../core/model/defaults.ts";
import type { Healthcheck, Mount, RestartPolicy } from "../../core/model/types.ts";
import {
  type ContainerConfig,
  LABEL_NODE_ID,
  LABEL_SERVICE_ID,
  LABEL_TASK_ID,
} from "../executor/executor.ts";

export class SpecError extends FleetError {
  constructor(taskId: string, message: string) {
    super("worker", "bad_spec", `task ${taskId}: invalid spec: ${message}`, false);
    this.name = "SpecError";
  }
}

export interface TaskPlan {
  container: ContainerConfig;
  restartPolicy: RestartPolicy;
  stopGracePeriodMs: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function strings(v: unknown, what: string, fail: (m: string) => never): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) fail(`${what}: not strings`);
  return v as string[];
}

function num(v: unknown, what: string, fail: (m: string) => never): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) fail(`${what}: not a number >= 0`);
  return v as number;
}

function mounts(v: unknown, fail: (m: string) => never): Mount[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) fail("mounts: not a list");
  return (v as unknown[]).map((m, i) => {
    if (
      !isObj(m) ||
      typeof m.target !== "string" ||
      !["bind", "volume", "tmpfs"].includes(m.type as string)
    ) {
      fail(`mounts[${i}]: needs type bind|volume|tmpfs and a target`);
    }
    return m as unknown as Mount;
  });
}

function healthcheck(v: unknown, fail: (m: string) => never): Healthcheck | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) fail("healthcheck: not a map");
  const h = v as Obj;
  const test = strings(h.test, "healthcheck.test", fail);
  if (!test?.length) fail("healthcheck.test: empty");
  const out: Healthcheck = { test: test! };
  for (const k of ["intervalMs", "timeoutMs", "retries", "startPeriodMs"] as const) {
    const n = num(h[k], `healthcheck.${k}`, fail);
    if (n !== undefined) out[k] = n;
  }
  return out;
}

function restartPolicy(v: unknown, fail: (m: string) => never): RestartPolicy {
  if (v === undefined) return defaultRestartPolicy;
  if (!isObj(v) || !["none", "on-failure", "any"].includes(v.condition as string)) {
    fail("restartPolicy.condition: expected none|on-failure|any");
  }
  const p = v as Obj;
  return {
    condition: p.condition as RestartPolicy["condition"],
    delayMs: num(p.delayMs, "restartPolicy.delayMs", fail) ?? defaultRestartPolicy.delayMs,
    maxAttempts: num(p.maxAttempts, "restartPolicy.maxAttempts", fail) ?? 0,
    windowMs: num(p.windowMs, "restartPolicy.windowMs", fail) ?? 0,
  };
}

/** Docker container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*: swarm's `service.slot.task`. */
export function containerName(task: AssignedTask, nodeId: string): string {
  const who = task.slot > 0 ? String(task.slot) : nodeId;
  const raw = `${task.serviceName || task.serviceId}.${who}.${task.id}`;
  return raw.replace(/[^a-zA-Z0-9_.-]/g, "_").replace(/^[^a-zA-Z0-9]/, "x");
}

/** Reads the task's spec; throws SpecError naming the first thing wrong. */
export function planTask(task: AssignedTask, nodeId: string): TaskPlan {
  const fail = (m: string): never => {
    throw new SpecError(task.id, m);
  };
  const spec = isObj(task.spec) ? task.spec : fail("not a map");
  const cs = isObj(spec.containerSpec) ? spec.containerSpec : fail("containerSpec missing");
  if (typeof cs.image !== "string" || cs.image === "") fail("containerSpec.image missing");
  const labels: Record<string, string> = {};
  if (cs.labels !== undefined) {
    if (!isObj(cs.labels)) fail("containerSpec.labels: not a map");
    for (const [k, v] of Object.entries(cs.labels as Obj)) labels[k] = String(v);
  }
  Object.assign(labels, {
    [LABEL_TASK_ID]: task.id,
    [LABEL_SERVICE_ID]: task.serviceId,
    [LABEL_NODE_ID]: nodeId,
    "fleet.service.name": task.serviceName,
  });
  const container: ContainerConfig = {
    name: containerName(task, nodeId),
    image: cs.image as string,
    labels,
  };
  const command = strings(cs.command, "command", fail);
  const args = strings(cs.args, "args", fail);
  const env = strings(cs.env, "env", fail);
  const devices = strings(cs.devices, "devices", fail);
  const m = mounts(cs.mounts, fail);
  const hc = healthcheck(cs.healthcheck, fail);
  if (command) container.command = command;
  if (args) container.args = args;
  if (env) container.env = env;
  if (devices) container.devices = devices;
  if (m) container.mounts = m;
  if (hc) container.healthcheck = hc;
  if (typeof cs.user === "string" && cs.user) container.user = cs.user;
  if (cs.privileged === true) container.privileged = true;
  const limits = isObj(spec.resources) && isObj(spec.resources.limits) ? spec.resources.limits : {};
  const nanoCPUs = num(limits.nanoCPUs, "resources.limits.nanoCPUs", fail);
  const memoryBytes = num(limits.memoryBytes, "resources.limits.memoryBytes", fail);
  if (nanoCPUs) container.nanoCPUs = nanoCPUs;
  if (memoryBytes) container.memoryBytes = memoryBytes;
  const grace = num(cs.stopGracePeriodMs, "stopGracePeriodMs", fail) ?? defaultStopGracePeriodMs;
  return {
    container,
    restartPolicy: restartPolicy(spec.restartPolicy, fail),
    stopGracePeriodMs: grace,
  };
}

/** Why the task's spec cannot be planned ("" when it can). */
export function specError(task: AssignedTask, nodeId: string): string {
  try {
    planTask(task, nodeId);
    return "";
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
