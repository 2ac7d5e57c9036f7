// Object builders for tests and simulations: complete, valid objects with overridable parts.

import { defaultClusterSpec, defaultRestartPolicy, defaultUpdateConfig } from "./defaults.ts";
import { TaskState } from "./task-state.ts";
import type { Cluster, Node, Service, ServiceSpec, Task, TaskTemplate } from "./types.ts";

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> | T[K] : T[K] };

export function makeNode(
  id: string,
  over: Partial<Node> & { labels?: Record<string, string> } = {},
): Node {
  const { labels, ...rest } = over;
  return {
    id,
    version: 0,
    createdAt: 0,
    updatedAt: 0,
    description: {
      hostname: id,
      platform: { os: "linux", arch: "x86_64" },
      resources: { nanoCPUs: 4e9, memoryBytes: 8 * 1024 ** 3 },
      engineLabels: {},
    },
    spec: { role: "worker", availability: "active", labels: labels ?? {} },
    status: { state: "ready" },
    ...rest,
  };
}

export function makeTemplate(over: DeepPartial<TaskTemplate> = {}): TaskTemplate {
  return {
    containerSpec: { image: "busybox", ...(over.containerSpec as object) },
    resources: { ...(over.resources as object) },
    restartPolicy: { ...defaultRestartPolicy, ...(over.restartPolicy as object) },
    placement: {
      constraints: [],
      preferences: [],
      maxReplicasPerNode: 0,
      platforms: [],
      ...(over.placement as object),
    },
    forceUpdate: over.forceUpdate ?? 0,
  };
}

export function makeServiceSpec(name: string, over: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name,
    labels: {},
    mode: { replicated: { replicas: 1 } },
    taskTemplate: makeTemplate(),
    updateConfig: { ...defaultUpdateConfig },
    rollbackConfig: { ...defaultUpdateConfig },
    endpointSpec: { ports: [] },
    ...over,
  };
}

export function makeService(id: string, over: Partial<Service> & { name?: string } = {}): Service {
  const { name, ...rest } = over;
  return {
    id,
    version: 0,
    createdAt: 0,
    updatedAt: 0,
    spec: makeServiceSpec(name ?? id),
    specVersion: 1,
    ...rest,
  };
}

export function makeTask(id: string, serviceId: string, over: Partial<Task> = {}): Task {
  return {
    id,
    version: 0,
    createdAt: 0,
    updatedAt: 0,
    serviceId,
    slot: 1,
    nodeId: "",
    spec: makeTemplate(),
    specVersion: 1,
    desiredState: TaskState.RUNNING,
    status: { state: TaskState.NEW, timestamp: 0, message: "created" },
    ...over,
  };
}

export function makeCluster(id = "cluster", over: Partial<Cluster> = {}): Cluster {
  return { id, version: 0, createdAt: 0, updatedAt: 0, spec: { ...defaultClusterSpec }, ...over };
}
