// `fleet node ls | inspect | ps | update | promote | demote | rm`.

import type { Node } from "../../../core/model/types.ts";
import { bool, list, type Parsed, str, UsageError } from "../args.ts";
import {
  type CliContext,
  type Command,
  enc,
  filterFlag,
  filterQuery,
  format,
  formatFlag,
  quietFlag,
  withQuery,
} from "../command.ts";
import { cap, json, table } from "../output.ts";
import { parseKeyValue } from "../units.ts";
import { printTasks, taskFlags } from "./tasks.ts";

function managerStatus(n: Node): string {
  if (!n.managerStatus) return "";
  if (n.managerStatus.leader) return "Leader";
  return cap(n.managerStatus.reachability);
}

async function ls(c: CliContext, p: Parsed) {
  const q = filterQuery(list(p, "filter"), [
    "id",
    "name",
    "role",
    "availability",
    "state",
    "label",
  ]);
  const nodes: Node[] = await c.client().call("GET", withQuery("/v1/nodes", q));
  const self = bool(p, "quiet") ? undefined : await selfId(c);
  if (bool(p, "quiet")) c.io.out(nodes.map((n) => n.id).join("\n"));
  else if (format(p) === "json") c.io.out(json(nodes));
  else {
    const rows = nodes.map((n) => [
      n.id + (n.id === self ? " *" : ""),
      n.description.hostname,
      cap(n.status.state),
      cap(n.spec.availability),
      managerStatus(n),
      `${n.description.platform.os}/${n.description.platform.arch}`,
    ]);
    c.io.out(
      table(["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "PLATFORM"], rows),
    );
  }
  return 0;
}

async function selfId(c: CliContext): Promise<string | undefined> {
  try {
    return (await c.client().call("GET", "/v1/info")).nodeId as string;
  } catch {
    return undefined;
  }
}

async function inspect(c: CliContext, p: Parsed) {
  const nodes = [];
  for (const ref of p.positionals)
    nodes.push(await c.client().call("GET", `/v1/nodes/${enc(ref)}`));
  c.io.out(json(nodes));
  return 0;
}

async function ps(c: CliContext, p: Parsed) {
  const refs =
    p.positionals.length > 0 ? p.positionals : [(await c.client().call("GET", "/v1/info")).nodeId];
  const q = filterQuery(list(p, "filter"), ["desired-state", "id", "service"]);
  for (const r of refs) q.append("node", r);
  return printTasks(c, p, q);
}

/** Reads the node, changes its spec, writes it back at the version read. */
async function changeSpec(c: CliContext, ref: string, change: (spec: Node["spec"]) => void) {
  const client = c.client();
  const node: Node = await client.call("GET", `/v1/nodes/${enc(ref)}`);
  const spec = structuredClone(node.spec);
  change(spec);
  await client.call("POST", `/v1/nodes/${enc(node.id)}/update?version=${node.version}`, spec);
  return node;
}

async function update(c: CliContext, p: Parsed) {
  const availability = str(p, "availability");
  const role = str(p, "role");
  if (availability && !["active", "pause", "drain"].includes(availability)) {
    throw new UsageError(`--availability: "${availability}" is not active, pause or drain`);
  }
  if (role && !["worker", "manager"].includes(role)) {
    throw new UsageError(`--role: "${role}" is not worker or manager`);
  }
  const adds = list(p, "label-add").map((l) => parseKeyValue("label-add", l));
  const node = await changeSpec(c, p.positionals[0]!, (spec) => {
    if (availability) spec.availability = availability as Node["spec"]["availability"];
    if (role) spec.role = role as Node["spec"]["role"];
    for (const k of list(p, "label-rm")) delete spec.labels[k];
    for (const [k, v] of adds) spec.labels[k] = v;
  });
  c.io.out(node.id);
  return 0;
}

function setRole(role: "worker" | "manager") {
  return async (c: CliContext, p: Parsed) => {
    for (const ref of p.positionals) {
      const node = await changeSpec(c, ref, (spec) => {
        spec.role = role;
      });
      const name = node.description.hostname;
      c.io.out(
        node.spec.role === role
          ? `Node ${name} is already a ${role}.`
          : `Node ${name} ${role === "manager" ? "promoted to a manager" : "demoted to a worker"}.`,
      );
    }
    return 0;
  };
}

async function rm(c: CliContext, p: Parsed) {
  const force = bool(p, "force") ? "?force=true" : "";
  let failed = 0;
  for (const ref of p.positionals) {
    try {
      const r = await c.client().call("DELETE", `/v1/nodes/${enc(ref)}${force}`);
      c.io.out(r.id);
    } catch (err) {
      c.io.err(`Error: ${(err as Error).message}`);
      failed++;
    }
  }
  return failed > 0 ? 1 : 0;
}

const node = (words: string, rest: Omit<Command, "words">): Command => ({
  words: ["node", words],
  ...rest,
});

export const nodeCommands: Command[] = [
  node("ls", {
    usage: "",
    summary: "List nodes in the cluster",
    flags: [quietFlag, formatFlag, filterFlag],
    args: { min: 0, max: 0 },
    run: ls,
  }),
  node("inspect", {
    usage: "NODE [NODE...]",
    summary: "Display detailed information on one or more nodes (JSON)",
    flags: [formatFlag],
    args: { min: 1 },
    run: inspect,
  }),
  node("ps", {
    usage: "[NODE...]",
    summary: "List tasks running on one or more nodes (default: this manager's node)",
    flags: taskFlags,
    args: { min: 0 },
    run: ps,
  }),
  node("update", {
    usage: "NODE",
    summary: "Update a node's availability, role or labels",
    flags: [
      { name: "availability", kind: "string", value: "STATE", help: "active, pause or drain" },
      { name: "role", kind: "string", value: "ROLE", help: "worker or manager" },
      { name: "label-add", kind: "list", value: "KEY=VALUE", help: "add or update a node label" },
      { name: "label-rm", kind: "list", value: "KEY", help: "remove a node label" },
    ],
    args: { min: 1, max: 1 },
    run: update,
  }),
  node("promote", {
    usage: "NODE [NODE...]",
    summary: "Promote one or more nodes to manager",
    flags: [],
    args: { min: 1 },
    run: setRole("manager"),
  }),
  node("demote", {
    usage: "NODE [NODE...]",
    summary: "Demote one or more managers to worker",
    flags: [],
    args: { min: 1 },
    run: setRole("worker"),
  }),
  node("rm", {
    usage: "NODE [NODE...]",
    summary: "Remove one or more nodes from the cluster",
    flags: [{ name: "force", short: "f", kind: "bool", help: "remove a node that is not down" }],
    args: { min: 1 },
    run: rm,
  }),
];
