// Task tables shared by `fleet service ps` and `fleet node ps`, Docker's layout: older tasks of a
// slot are indented under the current one with `\_`.

import type { Node, Service, Task } from "../../../core/model/types.ts";
import { bool, type Parsed } from "../args.ts";
import {
  type CliContext,
  filterFlag,
  format,
  formatFlag,
  quietFlag,
  withQuery,
} from "../command.ts";
import { ago, cap, json, shortId, table, truncate } from "../output.ts";

export type TaskView = Task & { stateName: string; desiredStateName: string };

export const taskFlags = [
  quietFlag,
  formatFlag,
  filterFlag,
  { name: "no-trunc", kind: "bool" as const, help: "do not truncate ids and errors" },
];

export function taskName(t: Task, services: Map<string, string>): string {
  const svc = services.get(t.serviceId) ?? shortId(t.serviceId);
  return t.slot > 0 ? `${svc}.${t.slot}` : `${svc}.${t.nodeId}`;
}

export async function printTasks(c: CliContext, p: Parsed, q: URLSearchParams): Promise<number> {
  const client = c.client();
  const tasks: TaskView[] = await client.call("GET", withQuery("/v1/tasks", q));
  if (bool(p, "quiet")) {
    c.io.out(tasks.map((t) => t.id).join("\n"));
    return 0;
  }
  if (format(p) === "json") {
    c.io.out(json(tasks));
    return 0;
  }
  const [services, nodes]: [Service[], Node[]] = await Promise.all([
    client.call("GET", "/v1/services"),
    client.call("GET", "/v1/nodes"),
  ]);
  const names = new Map(services.map((s) => [s.id, s.spec.name]));
  const hosts = new Map(nodes.map((n) => [n.id, n.description.hostname]));
  c.io.out(taskTable(tasks, names, hosts, c.io.now(), bool(p, "no-trunc")));
  return 0;
}

export function taskTable(
  tasks: TaskView[],
  names: Map<string, string>,
  hosts: Map<string, string>,
  now: number,
  full = false,
): string {
  const seen = new Set<string>();
  const rows = tasks.map((t) => {
    const name = taskName(t, names);
    const older = seen.has(name);
    seen.add(name);
    const err = t.status.err ?? "";
    return [
      shortId(t.id, full),
      older ? ` \\_ ${name}` : name,
      t.spec.containerSpec.image,
      hosts.get(t.nodeId) ?? t.nodeId,
      cap(t.desiredStateName),
      `${cap(t.stateName)} ${ago(now, t.status.timestamp)}`.trim(),
      full ? err : truncate(err, 40),
    ];
  });
  const head = ["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"];
  return table(head, rows);
}
