// Builders for scheduler tests and the benchmark: small valid Nodes, Services and Tasks with
// only the fields under test spelt out. Not used by the scheduler itself.

import { defaultRestartPolicy, defaultUpdateConfig } from "../model/defaults.ts";
import { TaskState, type TaskStateValue } from "../model/task-state.ts";
import type { Node, PortConfig, Service, Task, TaskTemplate } from "../model/types.ts";
import type { SchedulerView } from "./view.ts";

export const GB = 1e9;
export const CPU = 1e9;

export interface NodeOpts {
  hostname?: string;
  state?: Node["status"]["state"];
  availability?: Node["spec"]["availability"];
  role?: Node["spec"]["role"];
  os?: string;
  arch?: string;
  variant?: string;
  labels?: Record<string, string>;
  engineLabels?: Record<string, string>;
  memoryBytes?: number;
  nanoCPUs?: number;
}

export function makeNode(id: string, o: NodeOpts = {}): Node {
  const platform: Node["description"]["platform"] = {
    os: o.os ?? "linux",
    arch: o.arch ?? "x86_64",
  };
  if (o.variant !== undefined) platform.variant = o.variant;
  return {
    id,
    version: 1,
    createdAt: 0,
    updatedAt: 0,
    description: {
      hostname: o.hostname ?? id,
      platform,
      resources: { nanoCPUs: o.nanoCPUs ?? 4 * CPU, memoryBytes: o.memoryBytes ?? 4 * GB },
      engineLabels: o.engineLabels ?? {},
    },
    spec: {
      role: o.role ?? "worker",
      availability: o.availability ?? "active",
      labels: o.labels ?? {},
    },
    status: { state: o.state ?? "ready" },
  };
}

export interface TemplateOpts {
  constraints?: string[];
  spread?: string[];
  maxReplicasPerNode?: number;
  platforms?: { os: string; arch: string; variant?: string }[];
  memoryBytes?: number;
  nanoCPUs?: number;
}

export function makeTemplate(o: TemplateOpts = {}): TaskTemplate {
  const reservations: { memoryBytes?: number; nanoCPUs?: number } = {};
  if (o.memoryBytes !== undefined) reservations.memoryBytes = o.memoryBytes;
  if (o.nanoCPUs !== undefined) reservations.nanoCPUs = o.nanoCPUs;
  return {
    containerSpec: { image: "busybox" },
    resources: { reservations, limits: { memoryBytes: 64 * GB } },
    restartPolicy: defaultRestartPolicy,
    placement: {
      constraints: o.constraints ?? [],
      preferences: (o.spread ?? []).map((spread) => ({ spread })),
      maxReplicasPerNode: o.maxReplicasPerNode ?? 0,
      platforms: o.platforms ?? [],
    },
    forceUpdate: 0,
  };
}

export function makeService(id: string, ports: Partial<PortConfig>[] = []): Service {
  return {
    id,
    version: 1,
    createdAt: 0,
    updatedAt: 0,
    specVersion: 1,
    spec: {
      name: id,
      labels: {},
      mode: { replicated: { replicas: 1 } },
      taskTemplate: makeTemplate(),
      updateConfig: defaultUpdateConfig,
      rollbackConfig: defaultUpdateConfig,
      endpointSpec: {
        ports: ports.map((p) => ({
          protocol: "tcp",
          targetPort: 80,
          publishedPort: 80,
          publishMode: "host",
          ...p,
        })),
      },
    },
  };
}

export interface TaskOpts {
  slot?: number;
  nodeId?: string;
  state?: TaskStateValue;
  desiredState?: TaskStateValue;
  specVersion?: number;
  template?: TaskTemplate;
}

export function makeTask(id: string, serviceId: string, o: TaskOpts = {}): Task {
  return {
    id,
    version: 1,
    createdAt: 0,
    updatedAt: 0,
    serviceId,
    slot: o.slot ?? 1,
    nodeId: o.nodeId ?? "",
    spec: o.template ?? makeTemplate(),
    specVersion: o.specVersion ?? 1,
    desiredState: o.desiredState ?? TaskState.RUNNING,
    status: { state: o.state ?? TaskState.PENDING, timestamp: 0, message: "" },
  };
}

/** `n` pending tasks of one service sharing one template: `<serviceId>.<slot>`. */
export function makePending(serviceId: string, n: number, template: TaskTemplate): Task[] {
  return Array.from({ length: n }, (_, i) =>
    makeTask(`${serviceId}.${i + 1}`, serviceId, { slot: i + 1, template }),
  );
}

export function makeView(
  nodes: Node[],
  tasks: Task[],
  services: Service[] = [],
  recentFailures?: Map<string, Set<string>>,
): SchedulerView {
  const view: SchedulerView = { nodes, tasks, services: new Map(services.map((s) => [s.id, s])) };
  return recentFailures === undefined ? view : { ...view, recentFailures };
}
