// The scheduler's working copy of each node: what is left of its resources after the active
// tasks' reservations, how many tasks it runs (per service and in total), which host ports are
// taken. Built once per scheduling run from the view, then updated as tasks are placed, so the
// view itself is never touched.

import { type NormalPlatform, normalizePlatform } from "../constraint/platform.ts";
import { isActive } from "../model/task-state.ts";
import type { Node, PortConfig, Service, Task } from "../model/types.ts";
import { type Rng, shuffled } from "../rand.ts";
import type { SchedulerView } from "./view.ts";

export interface NodeInfo {
  readonly node: Node;
  /** Position in the seeded shuffle: the last tie-breaker, so ties replay but do not pile up. */
  readonly order: number;
  readonly platform: NormalPlatform;
  freeNanoCPUs: number;
  freeMemoryBytes: number;
  /** Active tasks on the node, all services. */
  tasks: number;
  /** Active tasks on the node by service id. */
  readonly perService: Map<string, number>;
  /** Host ports in use, as `80/tcp`. */
  readonly hostPorts: Set<string>;
  /** Spread key -> this node's lower-cased value for it, filled on first use (see spread.ts). */
  readonly spreadValues: Map<string, string>;
}

export function portKey(p: PortConfig): string {
  return `${p.publishedPort}/${p.protocol}`;
}

/** The host-mode ports a service's tasks publish (a published port of 0 is not fixed). */
export function hostPortsOf(service: Service | undefined): string[] {
  if (service === undefined) return [];
  return service.spec.endpointSpec.ports
    .filter((p) => p.publishMode === "host" && p.publishedPort > 0)
    .map(portKey);
}

export function buildNodeInfos(view: SchedulerView, rng: Rng): NodeInfo[] {
  const infos = shuffled(rng, view.nodes).map((node, order) => newInfo(node, order));
  const byId = new Map(infos.map((info) => [info.node.id, info]));
  const portsByService = new Map<string, string[]>();
  for (const task of view.tasks) {
    if (!isActive(task.status.state)) continue;
    const info = byId.get(task.nodeId);
    if (info === undefined) continue;
    let ports = portsByService.get(task.serviceId);
    if (ports === undefined) {
      ports = hostPortsOf(view.services.get(task.serviceId));
      portsByService.set(task.serviceId, ports);
    }
    occupy(info, task.serviceId, reservationsOf(task), ports);
  }
  return infos;
}

export interface Reservation {
  nanoCPUs: number;
  memoryBytes: number;
}

/** Reservations, not limits: what the task is guaranteed, which is what a node must hold. */
export function reservationsOf(task: Pick<Task, "spec">): Reservation {
  const r = task.spec.resources.reservations;
  return { nanoCPUs: r?.nanoCPUs ?? 0, memoryBytes: r?.memoryBytes ?? 0 };
}

/** Records one more task of `serviceId` on the node. */
export function occupy(
  info: NodeInfo,
  serviceId: string,
  r: Reservation,
  ports: readonly string[],
): void {
  info.freeNanoCPUs -= r.nanoCPUs;
  info.freeMemoryBytes -= r.memoryBytes;
  info.tasks++;
  info.perService.set(serviceId, (info.perService.get(serviceId) ?? 0) + 1);
  for (const p of ports) info.hostPorts.add(p);
}

function newInfo(node: Node, order: number): NodeInfo {
  return {
    node,
    order,
    platform: normalizePlatform(node.description.platform),
    freeNanoCPUs: node.description.resources.nanoCPUs,
    freeMemoryBytes: node.description.resources.memoryBytes,
    tasks: 0,
    perService: new Map(),
    hostPorts: new Set(),
    spreadValues: new Map(),
  };
}
