// Validation of operator-supplied specs. Input is untrusted JSON (API, CLI, files); output is a
// complete spec with swarm's defaults filled in, or every problem found, each with its path.

import { ConstraintError } from "../constraint/errors.ts";
import { parseConstraint } from "../constraint/parse.ts";
import { limits } from "../limits.ts";
import { Checker, type Problem } from "./check.ts";
import {
  defaultClusterSpec,
  defaultRestartPolicy,
  defaultStopGracePeriodMs,
  defaultUpdateConfig,
} from "./defaults.ts";
import type {
  ClusterSpec,
  ContainerSpec,
  EndpointSpec,
  Healthcheck,
  Mount,
  NodeSpec,
  Placement,
  Platform,
  PortConfig,
  ResourceRequirements,
  Resources,
  RestartPolicy,
  ServiceMode,
  ServiceSpec,
  TaskTemplate,
  UpdateConfig,
} from "./types.ts";

export type { Problem };
export type Validated<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const HOUR_MS = 3_600_000;
const YEAR_MS = 366 * 24 * HOUR_MS;

function done<T>(c: Checker, value: T | undefined): Validated<T> {
  return c.ok && value !== undefined ? { ok: true, value } : { ok: false, problems: c.problems };
}

/** Formats problems one per line: `path: reason`. */
export function formatProblems(problems: Problem[]): string {
  return problems.map((p) => `${p.path || "(spec)"}: ${p.reason}`).join("\n");
}

export function validateServiceSpec(input: unknown): Validated<ServiceSpec> {
  const c = new Checker();
  const o = c.object(input, "");
  if (input === undefined || (o === undefined && c.ok)) c.fail("", "a service spec is required");
  if (o === undefined) return done<ServiceSpec>(c, undefined);
  c.known(o, "", [
    "name",
    "labels",
    "mode",
    "taskTemplate",
    "updateConfig",
    "rollbackConfig",
    "endpointSpec",
  ]);
  const name = c.string(o.name, "name", { min: 1, max: limits.nameLengthMax });
  if (o.name === undefined) c.fail("name", "is required");
  else if (name !== undefined && !NAME.test(name))
    c.fail("name", "must start with a letter or digit and contain only [A-Za-z0-9_.-]");
  const spec: ServiceSpec = {
    name: name ?? "",
    labels: c.labels(o.labels, "labels") ?? {},
    mode: mode(c, o.mode),
    taskTemplate: taskTemplate(c, o.taskTemplate),
    updateConfig: updateConfig(c, o.updateConfig, "updateConfig"),
    rollbackConfig: updateConfig(c, o.rollbackConfig, "rollbackConfig"),
    endpointSpec: endpointSpec(c, o.endpointSpec),
  };
  return done(c, spec);
}

function mode(c: Checker, v: unknown): ServiceMode {
  const fallback: ServiceMode = { replicated: { replicas: 1 } };
  const o = c.object(v, "mode");
  if (o === undefined) return fallback;
  const keys = Object.keys(o);
  if (keys.length !== 1) {
    c.fail("mode", "must name exactly one of replicated, global, replicatedJob, globalJob");
    return fallback;
  }
  c.known(o, "mode", ["replicated", "global", "replicatedJob", "globalJob"]);
  if ("replicated" in o) {
    const r = c.object(o.replicated, "mode.replicated") ?? {};
    c.known(r, "mode.replicated", ["replicas"]);
    const replicas = c.int(r.replicas, "mode.replicated.replicas", {
      min: 0,
      max: limits.replicasMax,
    });
    return { replicated: { replicas: replicas ?? 1 } };
  }
  if ("replicatedJob" in o) {
    const r = c.object(o.replicatedJob, "mode.replicatedJob") ?? {};
    c.known(r, "mode.replicatedJob", ["maxConcurrent", "totalCompletions"]);
    const total = c.int(r.totalCompletions, "mode.replicatedJob.totalCompletions", {
      min: 0,
      max: limits.replicasMax,
    });
    const max = c.int(r.maxConcurrent, "mode.replicatedJob.maxConcurrent", {
      min: 1,
      max: limits.replicasMax,
    });
    return { replicatedJob: { totalCompletions: total ?? 1, maxConcurrent: max ?? total ?? 1 } };
  }
  if ("global" in o) {
    const g = c.object(o.global, "mode.global") ?? {};
    c.known(g, "mode.global", []);
    return { global: {} };
  }
  if ("globalJob" in o) {
    const g = c.object(o.globalJob, "mode.globalJob") ?? {};
    c.known(g, "mode.globalJob", []);
    return { globalJob: {} };
  }
  return fallback;
}

function taskTemplate(c: Checker, v: unknown): TaskTemplate {
  const p = "taskTemplate";
  const o = c.object(v, p);
  if (o === undefined) c.fail(p, "is required (at least taskTemplate.containerSpec.image)");
  const t = o ?? {};
  c.known(t, p, ["containerSpec", "resources", "restartPolicy", "placement", "forceUpdate"]);
  return {
    containerSpec: containerSpec(c, t.containerSpec, `${p}.containerSpec`),
    resources: resources(c, t.resources, `${p}.resources`),
    restartPolicy: restartPolicy(c, t.restartPolicy, `${p}.restartPolicy`),
    placement: placement(c, t.placement, `${p}.placement`),
    forceUpdate: c.int(t.forceUpdate, `${p}.forceUpdate`, { min: 0 }) ?? 0,
  };
}

function containerSpec(c: Checker, v: unknown, p: string): ContainerSpec {
  const o = c.object(v, p);
  if (o === undefined) {
    if (v === undefined) c.fail(`${p}.image`, "is required");
    return { image: "" };
  }
  c.known(o, p, [
    "image",
    "command",
    "args",
    "env",
    "mounts",
    "healthcheck",
    "user",
    "devices",
    "privileged",
    "stopGracePeriodMs",
    "labels",
  ]);
  if (o.image === undefined) c.fail(`${p}.image`, "is required");
  const image = c.string(o.image, `${p}.image`, { min: 1, max: 512 });
  if (image !== undefined && /\s/.test(image)) c.fail(`${p}.image`, "must not contain whitespace");
  const env = c.strings(o.env, `${p}.env`, limits.envPerContainerMax);
  env?.forEach((e, i) => {
    if (!/^[^=\s]+=/.test(e)) c.fail(`${p}.env[${i}]`, "must look like NAME=value");
  });
  const spec: ContainerSpec = { image: image ?? "" };
  const command = c.strings(o.command, `${p}.command`, limits.argsPerContainerMax);
  const args = c.strings(o.args, `${p}.args`, limits.argsPerContainerMax);
  const mounts = mountList(c, o.mounts, `${p}.mounts`);
  const health = healthcheck(c, o.healthcheck, `${p}.healthcheck`);
  const user = c.string(o.user, `${p}.user`, { min: 1, max: 256 });
  const devices = c.strings(o.devices, `${p}.devices`, 64);
  const privileged = c.bool(o.privileged, `${p}.privileged`);
  const labels = c.labels(o.labels, `${p}.labels`);
  if (command) spec.command = command;
  if (args) spec.args = args;
  if (env) spec.env = env;
  if (mounts) spec.mounts = mounts;
  if (health) spec.healthcheck = health;
  if (user) spec.user = user;
  if (devices) spec.devices = devices;
  if (privileged !== undefined) spec.privileged = privileged;
  if (labels) spec.labels = labels;
  spec.stopGracePeriodMs =
    c.int(o.stopGracePeriodMs, `${p}.stopGracePeriodMs`, { min: 0, max: HOUR_MS }) ??
    defaultStopGracePeriodMs;
  return spec;
}

function mountList(c: Checker, v: unknown, p: string): Mount[] | undefined {
  const arr = c.array(v, p, limits.mountsPerContainerMax);
  if (arr === undefined) return undefined;
  return arr.map((item, i) => {
    const ip = `${p}[${i}]`;
    const o = c.object(item, ip) ?? {};
    c.known(o, ip, ["type", "source", "target", "readOnly"]);
    const type = c.oneOf(o.type, `${ip}.type`, ["bind", "volume", "tmpfs"] as const) ?? "volume";
    if (o.target === undefined) c.fail(`${ip}.target`, "is required");
    const target = c.string(o.target, `${ip}.target`, { min: 1, max: 4096 }) ?? "";
    if (target && !target.startsWith("/")) c.fail(`${ip}.target`, "must be an absolute path");
    const m: Mount = { type, target };
    const source = c.string(o.source, `${ip}.source`, { min: 1, max: 4096 });
    if (type === "bind" && source === undefined && o.source === undefined)
      c.fail(`${ip}.source`, "is required for a bind mount");
    if (type === "bind" && source !== undefined && !source.startsWith("/"))
      c.fail(`${ip}.source`, "must be an absolute path for a bind mount");
    if (source !== undefined) m.source = source;
    const ro = c.bool(o.readOnly, `${ip}.readOnly`);
    if (ro !== undefined) m.readOnly = ro;
    return m;
  });
}

function healthcheck(c: Checker, v: unknown, p: string): Healthcheck | undefined {
  const o = c.object(v, p);
  if (o === undefined) return undefined;
  c.known(o, p, ["test", "intervalMs", "timeoutMs", "retries", "startPeriodMs"]);
  const test = c.strings(o.test, `${p}.test`, 256);
  if (o.test === undefined) c.fail(`${p}.test`, "is required");
  else if (test && (test.length === 0 || !["CMD", "CMD-SHELL", "NONE"].includes(test[0]!)))
    c.fail(`${p}.test`, 'must start with "CMD", "CMD-SHELL" or "NONE"');
  const h: Healthcheck = { test: test ?? [] };
  const interval = c.int(o.intervalMs, `${p}.intervalMs`, { min: 1, max: HOUR_MS });
  const timeout = c.int(o.timeoutMs, `${p}.timeoutMs`, { min: 1, max: HOUR_MS });
  const retries = c.int(o.retries, `${p}.retries`, { min: 0, max: 1000 });
  const start = c.int(o.startPeriodMs, `${p}.startPeriodMs`, { min: 0, max: HOUR_MS });
  if (interval !== undefined) h.intervalMs = interval;
  if (timeout !== undefined) h.timeoutMs = timeout;
  if (retries !== undefined) h.retries = retries;
  if (start !== undefined) h.startPeriodMs = start;
  return h;
}

function resourceSet(c: Checker, v: unknown, p: string): Partial<Resources> | undefined {
  const o = c.object(v, p);
  if (o === undefined) return undefined;
  c.known(o, p, ["nanoCPUs", "memoryBytes"]);
  const r: Partial<Resources> = {};
  const cpus = c.int(o.nanoCPUs, `${p}.nanoCPUs`, { min: 1 });
  const mem = c.int(o.memoryBytes, `${p}.memoryBytes`, { min: 1 });
  if (cpus !== undefined) r.nanoCPUs = cpus;
  if (mem !== undefined) r.memoryBytes = mem;
  return r;
}

function resources(c: Checker, v: unknown, p: string): ResourceRequirements {
  const o = c.object(v, p);
  if (o === undefined) return {};
  c.known(o, p, ["reservations", "limits"]);
  const r: ResourceRequirements = {};
  const reservations = resourceSet(c, o.reservations, `${p}.reservations`);
  const lim = resourceSet(c, o.limits, `${p}.limits`);
  if (reservations) r.reservations = reservations;
  if (lim) r.limits = lim;
  for (const k of ["nanoCPUs", "memoryBytes"] as const) {
    const res = reservations?.[k];
    const max = lim?.[k];
    if (res !== undefined && max !== undefined && res > max)
      c.fail(`${p}.reservations.${k}`, `must not exceed limits.${k} (${max})`);
  }
  return r;
}

function restartPolicy(c: Checker, v: unknown, p: string): RestartPolicy {
  const o = c.object(v, p);
  if (o === undefined) return { ...defaultRestartPolicy };
  c.known(o, p, ["condition", "delayMs", "maxAttempts", "windowMs"]);
  const d = defaultRestartPolicy;
  return {
    condition:
      c.oneOf(o.condition, `${p}.condition`, ["none", "on-failure", "any"] as const) ?? d.condition,
    delayMs: c.int(o.delayMs, `${p}.delayMs`, { min: 0, max: 24 * HOUR_MS }) ?? d.delayMs,
    maxAttempts:
      c.int(o.maxAttempts, `${p}.maxAttempts`, { min: 0, max: 1_000_000 }) ?? d.maxAttempts,
    windowMs: c.int(o.windowMs, `${p}.windowMs`, { min: 0, max: YEAR_MS }) ?? d.windowMs,
  };
}

function placement(c: Checker, v: unknown, p: string): Placement {
  const out: Placement = { constraints: [], preferences: [], maxReplicasPerNode: 0, platforms: [] };
  const o = c.object(v, p);
  if (o === undefined) return out;
  c.known(o, p, ["constraints", "preferences", "maxReplicasPerNode", "platforms"]);
  out.constraints =
    c.strings(
      o.constraints,
      `${p}.constraints`,
      limits.constraintsPerServiceMax,
      limits.constraintLengthMax,
    ) ?? [];
  out.constraints.forEach((s, i) => {
    if (s.trim() === "") {
      c.fail(`${p}.constraints[${i}]`, "must not be empty");
      return;
    }
    // Refuse a constraint the scheduler could never use, with its column and a fix.
    try {
      parseConstraint(s);
    } catch (err) {
      if (!(err instanceof ConstraintError)) throw err;
      const hint = err.suggestion === undefined ? "" : ` (did you mean \`${err.suggestion}\`?)`;
      c.fail(`${p}.constraints[${i}]`, `column ${err.column}: ${err.reason}${hint}`);
    }
  });
  const prefs = c.array(o.preferences, `${p}.preferences`, 16) ?? [];
  out.preferences = prefs.map((item, i) => {
    const ip = `${p}.preferences[${i}]`;
    const po = c.object(item, ip) ?? {};
    c.known(po, ip, ["spread"]);
    if (po.spread === undefined) c.fail(`${ip}.spread`, "is required");
    return { spread: c.string(po.spread, `${ip}.spread`, { min: 1, max: 256 }) ?? "" };
  });
  out.maxReplicasPerNode =
    c.int(o.maxReplicasPerNode, `${p}.maxReplicasPerNode`, { min: 0, max: limits.replicasMax }) ??
    0;
  const plats = c.array(o.platforms, `${p}.platforms`, 32) ?? [];
  out.platforms = plats.map((item, i) => platform(c, item, `${p}.platforms[${i}]`));
  return out;
}

function platform(c: Checker, v: unknown, p: string): Platform {
  const o = c.object(v, p) ?? {};
  c.known(o, p, ["os", "arch", "variant"]);
  const os = c.string(o.os, `${p}.os`, { max: 32 }) ?? "";
  const arch = c.string(o.arch, `${p}.arch`, { max: 32 }) ?? "";
  if (!os && !arch) c.fail(p, "must name an os or an arch");
  const out: Platform = { os, arch };
  const variant = c.string(o.variant, `${p}.variant`, { min: 1, max: 16 });
  if (variant !== undefined) out.variant = variant;
  return out;
}

function updateConfig(c: Checker, v: unknown, p: string): UpdateConfig {
  const o = c.object(v, p);
  const d = defaultUpdateConfig;
  if (o === undefined) return { ...d };
  c.known(o, p, [
    "parallelism",
    "delayMs",
    "failureAction",
    "monitorMs",
    "maxFailureRatio",
    "order",
  ]);
  return {
    parallelism:
      c.int(o.parallelism, `${p}.parallelism`, { min: 0, max: limits.replicasMax }) ??
      d.parallelism,
    delayMs: c.int(o.delayMs, `${p}.delayMs`, { min: 0, max: 24 * HOUR_MS }) ?? d.delayMs,
    failureAction:
      c.oneOf(o.failureAction, `${p}.failureAction`, ["pause", "continue", "rollback"] as const) ??
      d.failureAction,
    monitorMs: c.int(o.monitorMs, `${p}.monitorMs`, { min: 0, max: 24 * HOUR_MS }) ?? d.monitorMs,
    maxFailureRatio: c.number(o.maxFailureRatio, `${p}.maxFailureRatio`, 0, 1) ?? d.maxFailureRatio,
    order: c.oneOf(o.order, `${p}.order`, ["stop-first", "start-first"] as const) ?? d.order,
  };
}

function endpointSpec(c: Checker, v: unknown): EndpointSpec {
  const o = c.object(v, "endpointSpec");
  if (o === undefined) return { ports: [] };
  c.known(o, "endpointSpec", ["ports"]);
  const arr = c.array(o.ports, "endpointSpec.ports", limits.portsPerServiceMax) ?? [];
  const ports = arr.map((item, i) => port(c, item, `endpointSpec.ports[${i}]`));
  const seen = new Set<string>();
  ports.forEach((pc, i) => {
    const key = `${pc.protocol}/${pc.publishedPort}`;
    if (pc.publishedPort > 0 && seen.has(key))
      c.fail(`endpointSpec.ports[${i}].publishedPort`, `${key} is published twice`);
    seen.add(key);
  });
  return { ports };
}

function port(c: Checker, v: unknown, p: string): PortConfig {
  const o = c.object(v, p) ?? {};
  c.known(o, p, ["protocol", "targetPort", "publishedPort", "publishMode"]);
  if (o.targetPort === undefined) c.fail(`${p}.targetPort`, "is required");
  const target = c.int(o.targetPort, `${p}.targetPort`, { min: 1, max: 65535 }) ?? 0;
  return {
    protocol: c.oneOf(o.protocol, `${p}.protocol`, ["tcp", "udp"] as const) ?? "tcp",
    targetPort: target,
    publishedPort: c.int(o.publishedPort, `${p}.publishedPort`, { min: 1, max: 65535 }) ?? target,
    publishMode: c.oneOf(o.publishMode, `${p}.publishMode`, ["host"] as const) ?? "host",
  };
}

export function validateNodeSpec(input: unknown): Validated<NodeSpec> {
  const c = new Checker();
  const o = c.object(input, "") ?? {};
  c.known(o, "", ["role", "availability", "labels"]);
  const spec: NodeSpec = {
    role: c.oneOf(o.role, "role", ["worker", "manager"] as const) ?? "worker",
    availability:
      c.oneOf(o.availability, "availability", ["active", "pause", "drain"] as const) ?? "active",
    labels: c.labels(o.labels, "labels") ?? {},
  };
  return done(c, spec);
}

export function validateClusterSpec(input: unknown): Validated<ClusterSpec> {
  const c = new Checker();
  const o = c.object(input, "") ?? {};
  const d = defaultClusterSpec;
  c.known(o, "", Object.keys(d));
  const spec: ClusterSpec = {
    name: c.string(o.name, "name", { min: 1, max: limits.nameLengthMax }) ?? d.name,
    heartbeatPeriodMs:
      c.int(o.heartbeatPeriodMs, "heartbeatPeriodMs", { min: 100, max: HOUR_MS }) ??
      d.heartbeatPeriodMs,
    nodeCertExpiryMs:
      c.int(o.nodeCertExpiryMs, "nodeCertExpiryMs", { min: HOUR_MS, max: 10 * YEAR_MS }) ??
      d.nodeCertExpiryMs,
    reenrolWindowMs:
      c.int(o.reenrolWindowMs, "reenrolWindowMs", { min: 0, max: limits.reenrolWindowMsMax }) ??
      d.reenrolWindowMs!,
    gossip: c.bool(o.gossip, "gossip") ?? d.gossip!,
    taskHistoryLimit:
      c.int(o.taskHistoryLimit, "taskHistoryLimit", {
        min: 0,
        max: limits.taskHistoryPerSlotMax,
      }) ?? d.taskHistoryLimit,
    snapshotIntervalEntries:
      c.int(o.snapshotIntervalEntries, "snapshotIntervalEntries", { min: 100, max: 10_000_000 }) ??
      d.snapshotIntervalEntries,
    dispatcherGracePeriods:
      c.int(o.dispatcherGracePeriods, "dispatcherGracePeriods", { min: 1, max: 1000 }) ??
      d.dispatcherGracePeriods,
    autolock: c.bool(o.autolock, "autolock") ?? d.autolock,
  };
  return done(c, spec);
}
