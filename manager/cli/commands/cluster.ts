// `fleet cluster inspect | update`, `fleet join-token worker|manager`, `fleet events`.

import type { ClusterSpec } from "../../../core/model/types.ts";
import { bool, list, type Parsed, str, UsageError } from "../args.ts";
import { CliError, describeTarget } from "../client.ts";
import {
  type CliContext,
  type Command,
  filterFlag,
  filterQuery,
  quietFlag,
  withQuery,
} from "../command.ts";
import { json } from "../output.ts";
import { parseDuration, parseInt10 } from "../units.ts";
import { setAutolock } from "./ca.ts";

async function inspect(c: CliContext) {
  c.io.out(json(await c.client().call("GET", "/v1/cluster")));
  return 0;
}

async function update(c: CliContext, p: Parsed) {
  const client = c.client();
  const cur = await client.call("GET", "/v1/cluster");
  const spec: ClusterSpec = structuredClone(cur.spec);
  const hb = str(p, "heartbeat-period");
  const expiry = str(p, "cert-expiry");
  const window = str(p, "reenrol-window");
  const gossip = str(p, "gossip");
  const history = str(p, "task-history-limit");
  const snapshot = str(p, "snapshot-interval");
  const autolock = str(p, "autolock");
  const rotateGossip = bool(p, "rotate-gossip-key");
  const grace = str(p, "gossip-key-grace");
  if (grace !== undefined && !rotateGossip)
    throw new UsageError("--gossip-key-grace goes with --rotate-gossip-key");
  const graceMs = grace === undefined ? undefined : parseDuration("gossip-key-grace", grace);
  if (
    !rotateGossip &&
    [hb, expiry, window, gossip, history, snapshot, autolock].every((v) => v === undefined)
  ) {
    throw new UsageError(
      "nothing to update: pass at least one option (see fleet cluster update --help)",
    );
  }
  if (hb !== undefined) spec.heartbeatPeriodMs = parseDuration("heartbeat-period", hb);
  if (expiry !== undefined) spec.nodeCertExpiryMs = parseDuration("cert-expiry", expiry);
  if (window !== undefined) spec.reenrolWindowMs = parseDuration("reenrol-window", window);
  if (gossip !== undefined && gossip !== "on" && gossip !== "off")
    throw new UsageError(`--gossip: on or off, not "${gossip}"`);
  if (gossip !== undefined) spec.gossip = gossip === "on";
  if (history !== undefined) spec.taskHistoryLimit = parseInt10("task-history-limit", history);
  if (snapshot !== undefined)
    spec.snapshotIntervalEntries = parseInt10("snapshot-interval", snapshot);
  if (autolock !== undefined && autolock !== "true" && autolock !== "false")
    throw new UsageError("--autolock: true or false");
  if ([hb, expiry, window, gossip, history, snapshot].some((v) => v !== undefined)) {
    await client.call("POST", `/v1/cluster/update?version=${cur.version}`, spec);
    c.io.out(`Cluster ${cur.spec.name} updated.`);
  }
  // Sealing or unsealing the CA key is the CA's own route (it answers with the unlock key).
  if (autolock !== undefined) await setAutolock(c, autolock === "true");
  if (rotateGossip) {
    const q = graceMs === undefined ? "" : `?graceMs=${graceMs}`;
    const ring = await client.call("POST", `/v1/cluster/gossip-key/rotate${q}`);
    c.io.out(
      `Gossip key rotated: key ${ring.current} is current; agents get it with their next assignment.`,
    );
  }
  return 0;
}

async function joinToken(c: CliContext, p: Parsed) {
  const role = p.positionals[0]!;
  if (role !== "worker" && role !== "manager") {
    throw new UsageError(`"${role}" is not worker or manager`);
  }
  const client = c.client();
  const tokens = bool(p, "rotate")
    ? await client.call("POST", `/v1/join-tokens/rotate?role=${role}`)
    : await client.call("GET", "/v1/join-tokens");
  const token = tokens[role] as string;
  if (bool(p, "quiet")) {
    c.io.out(token);
    return 0;
  }
  if (bool(p, "rotate")) c.io.out(`Successfully rotated ${role} join token.\n`);
  const managers = await client.call("GET", "/v1/nodes?role=manager");
  type M = { managerStatus?: { addr?: string }; status: { addr?: string } };
  const addr = managers.map((m: M) => m.managerStatus?.addr || m.status.addr).find(Boolean);
  c.io.out(`To add a ${role} to this cluster, run the following command:\n`);
  c.io.out(`    fleet join --token ${token} ${addr ?? "MANAGER-ADDR:4242"}\n`);
  return 0;
}

async function events(c: CliContext, p: Parsed) {
  const q = filterQuery(list(p, "filter"), ["type"]);
  const since = str(p, "since");
  if (since !== undefined) q.set("since", since);
  let reset: string | undefined;
  const client = c.client();
  await client.stream(
    withQuery("/v1/events", q),
    (event, data) => {
      if (event === "reset") reset = (data as { message?: string }).message ?? "reset";
      else c.io.out(JSON.stringify(data));
    },
    c.signal,
  );
  if (reset !== undefined)
    throw new CliError(`the event stream was reset (${reset}): run fleet events again`);
  if (c.signal.aborted) return 0;
  // The stream has no end of its own: the manager went away (stopped, crashed, restarting).
  throw new CliError(
    `the event stream from ${describeTarget(client.target)} ended: the manager closed it ` +
      "(stopped or restarted?); run fleet events again, or point --host at another manager",
  );
}

export const clusterCommands: Command[] = [
  {
    words: ["cluster", "inspect"],
    usage: "",
    summary: "Display the cluster's settings (JSON)",
    flags: [],
    args: { min: 0, max: 0 },
    run: inspect,
  },
  {
    words: ["cluster", "update"],
    usage: "[OPTIONS]",
    summary: "Update the cluster's settings",
    flags: [
      {
        name: "heartbeat-period",
        kind: "string",
        value: "DURATION",
        help: "agent heartbeat period",
      },
      { name: "cert-expiry", kind: "string", value: "DURATION", help: "node certificate lifetime" },
      {
        name: "reenrol-window",
        kind: "string",
        value: "DURATION",
        help: "how long after expiry a node may re-enrol with its old key (default 720h; 0: never)",
      },
      {
        name: "gossip",
        kind: "string",
        value: "on|off",
        help: "agent-to-agent gossip, cluster-wide (default on; off for large fleets)",
      },
      { name: "task-history-limit", kind: "string", value: "N", help: "old tasks kept per slot" },
      {
        name: "snapshot-interval",
        kind: "string",
        value: "N",
        help: "Raft entries between snapshots",
      },
      { name: "autolock", kind: "string", value: "BOOL", help: "encrypt the CA key at rest" },
      { name: "rotate-gossip-key", kind: "bool", help: "replace the key that seals gossip" },
      {
        name: "gossip-key-grace",
        kind: "string",
        value: "DURATION",
        help: "how long the old gossip key still opens messages (default 1h; 0: at once)",
      },
    ],
    args: { min: 0, max: 0 },
    run: update,
  },
  {
    words: ["join-token"],
    usage: "worker|manager",
    summary: "Show or rotate the join token of a role",
    flags: [quietFlag, { name: "rotate", kind: "bool", help: "replace the token" }],
    args: { min: 1, max: 1 },
    run: joinToken,
  },
  {
    words: ["events"],
    usage: "",
    summary: "Stream the cluster's events as JSON lines (Ctrl-C stops)",
    flags: [
      filterFlag,
      { name: "since", kind: "string", value: "INDEX", help: "resume after this event id" },
    ],
    args: { min: 0, max: 0 },
    run: events,
  },
];
