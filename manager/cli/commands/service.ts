// `fleet service create | ls | ps | inspect | update | scale | rm | rollback | logs`.

import type { Service } from "../../../core/model/types.ts";
import { bool, type FlagDef, list, type Parsed, str, UsageError } from "../args.ts";
import { CliError, describeTarget } from "../client.ts";
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
import { converge } from "../converge.ts";
import { json, shortId, table } from "../output.ts";
import { createSpec, createSpecFlags, updateSpec, updateSpecFlags } from "../service-spec.ts";
import { parseDuration, parseInt10 } from "../units.ts";
import { printTasks, taskFlags } from "./tasks.ts";

type ServiceView = Service & {
  serviceStatus: { runningTasks: number; desiredTasks: number; completedTasks?: number };
};

const waitFlags: FlagDef[] = [
  { name: "detach", short: "d", kind: "bool", help: "exit immediately instead of waiting" },
  { name: "quiet", short: "q", kind: "bool", help: "suppress progress output" },
  {
    name: "timeout",
    kind: "string",
    value: "DURATION",
    help: "how long to wait for the service to converge (default 3m)",
  },
];

async function waitFor(c: CliContext, p: Parsed, id: string, rollback = false) {
  if (bool(p, "detach")) return 0;
  const timeoutMs = parseDuration("timeout", str(p, "timeout") ?? "3m");
  return converge(c, id, { timeoutMs, rollback, quiet: bool(p, "quiet") });
}

function randomName(): string {
  const words = ["brave", "calm", "eager", "keen", "quiet", "swift", "bold", "warm"];
  const things = ["otter", "lynx", "heron", "badger", "wren", "ibex", "marten", "pika"];
  const pick = (a: string[]) => a[Math.floor(Math.random() * a.length)]!;
  return `${pick(words)}_${pick(things)}`;
}

async function create(c: CliContext, p: Parsed) {
  const spec = createSpec(p, randomName);
  const { id } = await c.client().call("POST", "/v1/services/create", spec);
  c.io.out(id);
  return waitFor(c, p, id);
}

function replicas(s: ServiceView): string {
  const st = s.serviceStatus;
  const done = st.completedTasks !== undefined ? ` (${st.completedTasks} completed)` : "";
  const suffix =
    "replicated" in s.spec.mode && s.spec.taskTemplate.placement.maxReplicasPerNode > 0
      ? ` (max ${s.spec.taskTemplate.placement.maxReplicasPerNode} per node)`
      : "";
  return `${st.runningTasks}/${st.desiredTasks}${done}${suffix}`;
}

function modeName(s: Service): string {
  const m = Object.keys(s.spec.mode)[0]!;
  return m.replace(/Job$/, "-job");
}

function ports(s: Service): string {
  return s.spec.endpointSpec.ports
    .map((x) => `*:${x.publishedPort}->${x.targetPort}/${x.protocol}`)
    .join(", ");
}

async function ls(c: CliContext, p: Parsed) {
  const q = filterQuery(list(p, "filter"), ["id", "name", "mode", "label"]);
  const services: ServiceView[] = await c.client().call("GET", withQuery("/v1/services", q));
  if (bool(p, "quiet")) c.io.out(services.map((s) => s.id).join("\n"));
  else if (format(p) === "json") c.io.out(json(services));
  else {
    const rows = services.map((s) => [
      shortId(s.id),
      s.spec.name,
      modeName(s),
      replicas(s),
      s.spec.taskTemplate.containerSpec.image,
      ports(s),
    ]);
    c.io.out(table(["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"], rows));
  }
  return 0;
}

async function ps(c: CliContext, p: Parsed) {
  const q = filterQuery(list(p, "filter"), ["desired-state", "id", "node"]);
  for (const r of p.positionals) q.append("service", r);
  return printTasks(c, p, q);
}

async function inspect(c: CliContext, p: Parsed) {
  const out = [];
  for (const ref of p.positionals)
    out.push(await c.client().call("GET", `/v1/services/${enc(ref)}`));
  c.io.out(json(out));
  return 0;
}

async function update(c: CliContext, p: Parsed) {
  const client = c.client();
  const cur: ServiceView = await client.call("GET", `/v1/services/${enc(p.positionals[0]!)}`);
  const spec = updateSpec(cur.spec, p);
  const force = bool(p, "force") ? "&force=true" : "";
  await client.call("POST", `/v1/services/${cur.id}/update?version=${cur.version}${force}`, spec);
  c.io.out(cur.spec.name);
  return waitFor(c, p, cur.id);
}

async function scale(c: CliContext, p: Parsed) {
  const client = c.client();
  const wanted = p.positionals.map((a) => {
    const m = /^(.+)=(.+)$/.exec(a);
    if (!m) throw new UsageError(`"${a}" is not SERVICE=REPLICAS`);
    return { ref: m[1]!, n: parseInt10("replicas", m[2]!) };
  });
  const ids: string[] = [];
  for (const { ref, n } of wanted) {
    const cur: ServiceView = await client.call("GET", `/v1/services/${enc(ref)}`);
    const mode = cur.spec.mode;
    if (!("replicated" in mode) && !("replicatedJob" in mode)) {
      throw new CliError(
        `${cur.spec.name}: scale can only be used with replicated or replicated-job mode`,
      );
    }
    const spec = structuredClone(cur.spec);
    if ("replicated" in spec.mode) spec.mode.replicated.replicas = n;
    else if ("replicatedJob" in spec.mode) spec.mode.replicatedJob.totalCompletions = n;
    await client.call("POST", `/v1/services/${cur.id}/update?version=${cur.version}`, spec);
    c.io.out(`${cur.spec.name} scaled to ${n}`);
    ids.push(cur.id);
  }
  for (const id of ids) {
    const code = await waitFor(c, p, id);
    if (code !== 0) return code;
  }
  return 0;
}

async function rollback(c: CliContext, p: Parsed) {
  const client = c.client();
  const cur: ServiceView = await client.call("GET", `/v1/services/${enc(p.positionals[0]!)}`);
  await client.call("POST", `/v1/services/${cur.id}/rollback?version=${cur.version}`);
  c.io.out(cur.spec.name);
  return waitFor(c, p, cur.id, true);
}

async function rm(c: CliContext, p: Parsed) {
  let failed = 0;
  for (const ref of p.positionals) {
    try {
      await c.client().call("DELETE", `/v1/services/${enc(ref)}`);
      c.io.out(ref);
    } catch (err) {
      c.io.err(`Error: ${(err as Error).message}`);
      failed++;
    }
  }
  return failed > 0 ? 1 : 0;
}

interface LogEvent {
  serviceName?: string;
  taskId?: string;
  slot?: number;
  nodeId?: string;
  ts?: number;
  line?: string;
  message?: string;
}

/** `web.1.abcdef123456@edge-1`, as docker service logs names a task. */
function logPrefix(e: LogEvent): string {
  const slot = e.slot && e.slot > 0 ? String(e.slot) : (e.nodeId ?? "");
  return `${e.serviceName}.${slot}.${(e.taskId ?? "").slice(0, 12)}@${e.nodeId}`;
}

async function logs(c: CliContext, p: Parsed) {
  const q = new URLSearchParams();
  const follow = bool(p, "follow");
  if (follow) q.set("follow", "true");
  const tail = str(p, "tail");
  if (tail !== undefined && tail !== "all") q.set("tail", String(parseInt10("tail", tail)));
  const since = str(p, "since");
  if (since !== undefined) q.set("since", String(c.io.now() - parseDuration("since", since)));
  const stamps = bool(p, "timestamps");
  const client = c.client();
  const path = withQuery(`/v1/services/${enc(p.positionals[0]!)}/logs`, q);
  let lines = 0;
  let warnings = 0;
  await client.stream(
    path,
    (event, data) => {
      const d = data as LogEvent;
      if (event === "warning") {
        warnings++;
        c.io.err(`warning: ${d.message}`);
      } else if (event === "log" && typeof d.line === "string") {
        lines++;
        const ts = stamps ? `${d.ts ? new Date(d.ts).toISOString() : "-"} ` : "";
        c.io.out(`${logPrefix(d)}    | ${ts}${d.line}`);
      }
    },
    c.signal,
  );
  if (follow && !c.signal.aborted) {
    throw new CliError(
      `the log stream from ${describeTarget(client.target)} ended: the manager closed it ` +
        "(stopped or restarted?); run the command again, or point --host at another manager",
    );
  }
  return warnings > 0 && lines === 0 ? 1 : 0;
}

const svc = (words: string, rest: Omit<Command, "words">): Command => ({
  words: ["service", words],
  ...rest,
});

export const serviceCommands: Command[] = [
  svc("create", {
    usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    summary: "Create a new service",
    flags: [...createSpecFlags, ...waitFlags],
    trailingCommand: true,
    args: { min: 1 },
    run: create,
  }),
  svc("ls", {
    usage: "",
    summary: "List services",
    flags: [quietFlag, formatFlag, filterFlag],
    args: { min: 0, max: 0 },
    run: ls,
  }),
  svc("ps", {
    usage: "SERVICE [SERVICE...]",
    summary: "List the tasks of one or more services",
    flags: taskFlags,
    args: { min: 1 },
    run: ps,
  }),
  svc("inspect", {
    usage: "SERVICE [SERVICE...]",
    summary: "Display detailed information on one or more services (JSON)",
    flags: [formatFlag],
    args: { min: 1 },
    run: inspect,
  }),
  svc("update", {
    usage: "[OPTIONS] SERVICE",
    summary: "Update a service",
    flags: [
      ...updateSpecFlags,
      { name: "force", kind: "bool", help: "redeploy the tasks even if nothing changed" },
      ...waitFlags,
    ],
    args: { min: 1, max: 1 },
    run: update,
  }),
  svc("scale", {
    usage: "SERVICE=REPLICAS [SERVICE=REPLICAS...]",
    summary: "Scale one or more replicated services",
    flags: waitFlags,
    args: { min: 1 },
    run: scale,
  }),
  svc("rm", {
    usage: "SERVICE [SERVICE...]",
    summary: "Remove one or more services",
    flags: [],
    args: { min: 1 },
    run: rm,
  }),
  svc("rollback", {
    usage: "SERVICE",
    summary: "Revert a service to its previous spec",
    flags: waitFlags,
    args: { min: 1, max: 1 },
    run: rollback,
  }),
  svc("logs", {
    usage: "SERVICE|TASK",
    summary: "Fetch the logs of a service's tasks, or of one task",
    flags: [
      { name: "follow", short: "f", kind: "bool", help: "follow log output" },
      { name: "timestamps", short: "t", kind: "bool", help: "show each line's time" },
      {
        name: "since",
        kind: "string",
        value: "DURATION",
        help: "only lines newer than this (e.g. 10m)",
      },
      {
        name: "tail",
        short: "n",
        kind: "string",
        value: "N",
        help: "lines from the end (default all)",
      },
    ],
    args: { min: 1, max: 1 },
    run: logs,
  }),
];
