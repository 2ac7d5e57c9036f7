// `service create` and `service update` flags, turned into a ServiceSpec. Values are parsed here
// (durations, sizes, mounts, ports) with errors naming the flag; the manager validates the whole
// spec again and reports every remaining problem.

import { defaultRestartPolicy, defaultUpdateConfig } from "../../core/model/defaults.ts";
import type { Mount, PortConfig, ServiceSpec, UpdateConfig } from "../../core/model/types.ts";
import { type FlagDef, list, type Parsed, str, UsageError } from "./args.ts";
import {
  parseBytes,
  parseCpus,
  parseDuration,
  parseInt10,
  parseKeyValue,
  parseRatio,
} from "./units.ts";

const s = (name: string, value: string, help: string): FlagDef => ({
  name,
  kind: "string",
  value,
  help,
});
const l = (name: string, value: string, help: string): FlagDef => ({
  name,
  kind: "list",
  value,
  help,
});

function updateFlags(prefix: "update" | "rollback"): FlagDef[] {
  return [
    s(`${prefix}-parallelism`, "N", "tasks changed at once (0: all)"),
    s(`${prefix}-delay`, "DURATION", "delay between batches"),
    s(`${prefix}-failure-action`, "ACTION", "pause, continue or rollback"),
    s(`${prefix}-monitor`, "DURATION", "how long a new task is watched for failure"),
    s(`${prefix}-max-failure-ratio`, "RATIO", "failures tolerated (0 to 1)"),
    s(`${prefix}-order`, "ORDER", "stop-first or start-first"),
  ];
}

/** Flags shared by create and update. */
export const commonSpecFlags: FlagDef[] = [
  s("replicas", "N", "number of tasks (replicated services and jobs)"),
  s("max-concurrent", "N", "tasks of a replicated job running at once"),
  s("replicas-max-per-node", "N", "tasks per node at most (0: unlimited)"),
  s("restart-condition", "COND", "none, on-failure or any"),
  s("restart-delay", "DURATION", "delay between restart attempts"),
  s("restart-max-attempts", "N", "restarts before giving up (0: unlimited)"),
  s("restart-window", "DURATION", "window in which restarts are counted"),
  ...updateFlags("update"),
  ...updateFlags("rollback"),
  s("reserve-cpu", "CPUS", "CPUs reserved per task (0.5)"),
  s("reserve-memory", "BYTES", "memory reserved per task (64M)"),
  s("limit-cpu", "CPUS", "CPU limit per task"),
  s("limit-memory", "BYTES", "memory limit per task"),
  s("health-cmd", "CMD", "command run to check health (shell form)"),
  s("health-interval", "DURATION", "time between health checks"),
  s("health-timeout", "DURATION", "time a health check may take"),
  s("health-retries", "N", "failures before unhealthy"),
  s("health-start-period", "DURATION", "grace period before failures count"),
  { name: "no-healthcheck", kind: "bool", help: "disable the image's healthcheck" },
  s("stop-grace-period", "DURATION", "time to wait before killing a task"),
  s("user", "USER", "user the container runs as"),
];

export const createSpecFlags: FlagDef[] = [
  s("name", "NAME", "service name"),
  s("mode", "MODE", "replicated, global, replicated-job or global-job"),
  l("constraint", "EXPR", "placement constraint (repeatable)"),
  l("placement-pref", "PREF", "placement preference, spread=node.labels.zone"),
  l("env", "NAME=VALUE", "environment variable (repeatable)"),
  l("label", "KEY=VALUE", "service label (repeatable)"),
  l("mount", "SPEC", "mount: type=bind,source=/a,target=/b[,readonly]"),
  l("publish", "PORT", "publish a port on the node: 8080:80[/udp] or published=8080,target=80"),
  ...commonSpecFlags,
];

const addRm = (name: string, value: string, what: string): FlagDef[] => [
  l(`${name}-add`, value, `add ${what}`),
  l(`${name}-rm`, value === "KEY=VALUE" ? "KEY" : value, `remove ${what}`),
];

export const updateSpecFlags: FlagDef[] = [
  s("image", "IMAGE", "new image"),
  s("args", "ARGS", "new command arguments (space separated)"),
  ...addRm("constraint", "EXPR", "a placement constraint"),
  ...addRm("placement-pref", "PREF", "a placement preference"),
  ...addRm("env", "NAME=VALUE", "an environment variable"),
  ...addRm("label", "KEY=VALUE", "a service label"),
  l("mount-add", "SPEC", "add a mount"),
  l("mount-rm", "TARGET", "remove the mount at TARGET"),
  l("publish-add", "PORT", "publish a port"),
  l("publish-rm", "PORT", "unpublish a published port (8080 or 8080/udp)"),
  ...commonSpecFlags,
];

function minimalSpec(name: string, image: string): ServiceSpec {
  return {
    name,
    labels: {},
    mode: { replicated: { replicas: 1 } },
    taskTemplate: {
      containerSpec: { image },
      resources: {},
      restartPolicy: { ...defaultRestartPolicy },
      placement: { constraints: [], preferences: [], maxReplicasPerNode: 0, platforms: [] },
      forceUpdate: 0,
    },
    updateConfig: { ...defaultUpdateConfig },
    rollbackConfig: { ...defaultUpdateConfig },
    endpointSpec: { ports: [] },
  };
}

/** `fleet service create [flags] IMAGE [COMMAND] [ARG...]`. */
export function createSpec(p: Parsed, defaultName: () => string): ServiceSpec {
  const [image, ...command] = p.positionals as [string, ...string[]];
  const spec = minimalSpec(str(p, "name") ?? defaultName(), image);
  if (command.length > 0) spec.taskTemplate.containerSpec.command = command;
  spec.mode = modeFrom(str(p, "mode") ?? "replicated");
  const t = spec.taskTemplate;
  t.placement.constraints = list(p, "constraint");
  t.placement.preferences = list(p, "placement-pref").map((v) => pref("placement-pref", v));
  const env = list(p, "env");
  if (env.length > 0) t.containerSpec.env = env.map((e) => envPair("env", e));
  for (const v of list(p, "label")) {
    const [k, val] = parseKeyValue("label", v);
    spec.labels[k] = val;
  }
  const mounts = list(p, "mount").map((m) => parseMount("mount", m));
  if (mounts.length > 0) t.containerSpec.mounts = mounts;
  spec.endpointSpec.ports = list(p, "publish").map((v) => parsePort("publish", v));
  applyCommon(spec, p);
  return spec;
}

function modeFrom(mode: string): ServiceSpec["mode"] {
  switch (mode) {
    case "replicated":
      return { replicated: { replicas: 1 } };
    case "global":
      return { global: {} };
    case "replicated-job":
      return { replicatedJob: { maxConcurrent: 1, totalCompletions: 1 } };
    case "global-job":
      return { globalJob: {} };
    default:
      throw new UsageError(
        `--mode: "${mode}" is not replicated, global, replicated-job or global-job`,
      );
  }
}

/** Applies `service update` flags to the current spec (a copy is changed and returned). */
export function updateSpec(current: ServiceSpec, p: Parsed): ServiceSpec {
  const spec = structuredClone(current);
  const c = spec.taskTemplate.containerSpec;
  const pl = spec.taskTemplate.placement;
  const image = str(p, "image");
  if (image !== undefined) c.image = image;
  const args = str(p, "args");
  if (args !== undefined) c.args = args.split(/\s+/).filter(Boolean);
  const rmC = new Set(list(p, "constraint-rm"));
  pl.constraints = [...pl.constraints.filter((x) => !rmC.has(x)), ...list(p, "constraint-add")];
  const rmP = new Set(list(p, "placement-pref-rm").map((v) => pref("placement-pref-rm", v).spread));
  pl.preferences = [
    ...pl.preferences.filter((x) => !rmP.has(x.spread)),
    ...list(p, "placement-pref-add").map((v) => pref("placement-pref-add", v)),
  ];
  updateEnv(spec, p);
  for (const k of list(p, "label-rm")) delete spec.labels[k];
  for (const v of list(p, "label-add")) {
    const [k, val] = parseKeyValue("label-add", v);
    spec.labels[k] = val;
  }
  const rmM = new Set(list(p, "mount-rm"));
  const mounts = [...(c.mounts ?? []).filter((m) => !rmM.has(m.target))];
  mounts.push(...list(p, "mount-add").map((m) => parseMount("mount-add", m)));
  if (mounts.length > 0 || c.mounts) c.mounts = mounts;
  const rmPorts = new Set(list(p, "publish-rm").map(portKey));
  spec.endpointSpec.ports = [
    ...spec.endpointSpec.ports.filter((x) => !rmPorts.has(`${x.publishedPort}/${x.protocol}`)),
    ...list(p, "publish-add").map((v) => parsePort("publish-add", v)),
  ];
  applyCommon(spec, p);
  return spec;
}

function updateEnv(spec: ServiceSpec, p: Parsed): void {
  const c = spec.taskTemplate.containerSpec;
  const rm = new Set(list(p, "env-rm"));
  const add = list(p, "env-add").map((e) => envPair("env-add", e));
  const addNames = new Set(add.map((e) => e.slice(0, e.indexOf("="))));
  const kept = (c.env ?? []).filter((e) => {
    const name = e.slice(0, e.indexOf("="));
    return !rm.has(name) && !addNames.has(name);
  });
  if (kept.length + add.length > 0 || c.env) c.env = [...kept, ...add];
}

function envPair(flag: string, v: string): string {
  const [k, val] = parseKeyValue(flag, v);
  return `${k}=${val}`;
}

function pref(flag: string, v: string): { spread: string } {
  const m = /^spread=(.+)$/.exec(v);
  if (!m) throw new UsageError(`--${flag}: "${v}" must look like spread=node.labels.zone`);
  return { spread: m[1]! };
}

export function parseMount(flag: string, v: string): Mount {
  const m: Mount = { type: "volume", target: "" };
  for (const part of v.split(",")) {
    const [k, val] = parseKeyValue(flag, part);
    if (k === "type") m.type = val as Mount["type"];
    else if (k === "source" || k === "src") m.source = val;
    else if (k === "target" || k === "dst" || k === "destination") m.target = val;
    else if (k === "readonly" || k === "ro")
      m.readOnly = val === "" || val === "true" || val === "1";
    else
      throw new UsageError(
        `--${flag}: unknown mount option "${k}" (type, source, target, readonly)`,
      );
  }
  if (m.target === "") throw new UsageError(`--${flag}: "${v}" needs target=/path`);
  return m;
}

export function parsePort(flag: string, v: string): PortConfig {
  const short = /^(\d+):(\d+)(?:\/(tcp|udp))?$/.exec(v);
  if (short) {
    const proto = (short[3] ?? "tcp") as PortConfig["protocol"];
    return {
      protocol: proto,
      publishedPort: Number(short[1]),
      targetPort: Number(short[2]),
      publishMode: "host",
    };
  }
  const out: PortConfig = { protocol: "tcp", targetPort: 0, publishedPort: 0, publishMode: "host" };
  for (const part of v.split(",")) {
    const [k, val] = parseKeyValue(flag, part);
    if (k === "published") out.publishedPort = parseInt10(flag, val, 1);
    else if (k === "target") out.targetPort = parseInt10(flag, val, 1);
    else if (k === "protocol") out.protocol = val as PortConfig["protocol"];
    else if (k === "mode") out.publishMode = val as PortConfig["publishMode"];
    else
      throw new UsageError(
        `--${flag}: "${v}" is not PUBLISHED:TARGET[/udp] or published=…,target=…`,
      );
  }
  if (out.targetPort === 0) throw new UsageError(`--${flag}: "${v}" needs a target port`);
  if (out.publishedPort === 0) out.publishedPort = out.targetPort;
  return out;
}

function portKey(v: string): string {
  const m = /^(\d+)(?:\/(tcp|udp))?$/.exec(v) ?? /^(\d+):\d+(?:\/(tcp|udp))?$/.exec(v);
  if (!m) throw new UsageError(`--publish-rm: "${v}" is not a published port (8080 or 8080/udp)`);
  return `${m[1]}/${m[2] ?? "tcp"}`;
}

function applyCommon(spec: ServiceSpec, p: Parsed): void {
  applyMode(spec, p);
  const t = spec.taskTemplate;
  const v = (name: string) => str(p, name);
  const maxPer = v("replicas-max-per-node");
  if (maxPer !== undefined)
    t.placement.maxReplicasPerNode = parseInt10("replicas-max-per-node", maxPer);
  const rp = t.restartPolicy;
  if (v("restart-condition") !== undefined) rp.condition = v("restart-condition") as never;
  if (v("restart-delay") !== undefined)
    rp.delayMs = parseDuration("restart-delay", v("restart-delay")!);
  if (v("restart-max-attempts") !== undefined)
    rp.maxAttempts = parseInt10("restart-max-attempts", v("restart-max-attempts")!);
  if (v("restart-window") !== undefined)
    rp.windowMs = parseDuration("restart-window", v("restart-window")!);
  applyUpdateConfig(spec.updateConfig, p, "update");
  applyUpdateConfig(spec.rollbackConfig, p, "rollback");
  applyResources(spec, p);
  applyHealth(spec, p);
  const grace = v("stop-grace-period");
  if (grace !== undefined)
    t.containerSpec.stopGracePeriodMs = parseDuration("stop-grace-period", grace);
  if (v("user") !== undefined) t.containerSpec.user = v("user");
}

function applyMode(spec: ServiceSpec, p: Parsed): void {
  const replicas = str(p, "replicas");
  const maxConcurrent = str(p, "max-concurrent");
  const m = spec.mode;
  if (replicas !== undefined) {
    const n = parseInt10("replicas", replicas);
    if ("replicated" in m) m.replicated.replicas = n;
    else if ("replicatedJob" in m) {
      m.replicatedJob.totalCompletions = n;
      if (maxConcurrent === undefined) m.replicatedJob.maxConcurrent = Math.max(1, n);
    } else throw new UsageError("--replicas applies to replicated services and jobs only");
  }
  if (maxConcurrent !== undefined) {
    if (!("replicatedJob" in m))
      throw new UsageError("--max-concurrent applies to replicated jobs only");
    m.replicatedJob.maxConcurrent = parseInt10("max-concurrent", maxConcurrent, 1);
  }
}

function applyUpdateConfig(u: UpdateConfig, p: Parsed, prefix: string): void {
  const v = (k: string) => str(p, `${prefix}-${k}`);
  if (v("parallelism") !== undefined)
    u.parallelism = parseInt10(`${prefix}-parallelism`, v("parallelism")!);
  if (v("delay") !== undefined) u.delayMs = parseDuration(`${prefix}-delay`, v("delay")!);
  if (v("failure-action") !== undefined) u.failureAction = v("failure-action") as never;
  if (v("monitor") !== undefined) u.monitorMs = parseDuration(`${prefix}-monitor`, v("monitor")!);
  if (v("max-failure-ratio") !== undefined)
    u.maxFailureRatio = parseRatio(`${prefix}-max-failure-ratio`, v("max-failure-ratio")!);
  if (v("order") !== undefined) u.order = v("order") as never;
}

function applyResources(spec: ServiceSpec, p: Parsed): void {
  const r = spec.taskTemplate.resources;
  const set = (which: "reservations" | "limits", key: "nanoCPUs" | "memoryBytes", n: number) => {
    r[which] = { ...r[which], [key]: n };
  };
  const v = (k: string) => str(p, k);
  if (v("reserve-cpu") !== undefined)
    set("reservations", "nanoCPUs", parseCpus("reserve-cpu", v("reserve-cpu")!));
  if (v("reserve-memory") !== undefined)
    set("reservations", "memoryBytes", parseBytes("reserve-memory", v("reserve-memory")!));
  if (v("limit-cpu") !== undefined)
    set("limits", "nanoCPUs", parseCpus("limit-cpu", v("limit-cpu")!));
  if (v("limit-memory") !== undefined)
    set("limits", "memoryBytes", parseBytes("limit-memory", v("limit-memory")!));
}

function applyHealth(spec: ServiceSpec, p: Parsed): void {
  const c = spec.taskTemplate.containerSpec;
  const v = (k: string) => str(p, `health-${k}`);
  if (p.bools.get("no-healthcheck")) c.healthcheck = { test: ["NONE"] };
  const cmd = v("cmd");
  const touched = ["cmd", "interval", "timeout", "retries", "start-period"].some(
    (k) => v(k) !== undefined,
  );
  if (!touched) return;
  const h = c.healthcheck ?? { test: [] };
  if (cmd !== undefined) h.test = ["CMD-SHELL", cmd];
  if (h.test.length === 0) throw new UsageError("--health-* options need --health-cmd");
  if (v("interval") !== undefined) h.intervalMs = parseDuration("health-interval", v("interval")!);
  if (v("timeout") !== undefined) h.timeoutMs = parseDuration("health-timeout", v("timeout")!);
  if (v("retries") !== undefined) h.retries = parseInt10("health-retries", v("retries")!);
  if (v("start-period") !== undefined)
    h.startPeriodMs = parseDuration("health-start-period", v("start-period")!);
  c.healthcheck = h;
}
