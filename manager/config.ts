// The manager's configuration: command-line flags over an optional JSON config file over
// defaults. Every problem is reported at once, with the flag or key that caused it.

import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { FleetError } from "../core/errors.ts";
import { Checker } from "../core/model/check.ts";

export interface ManagerConfig {
  dataDir: string;
  /** Create a new cluster with this manager as its only member. */
  init: boolean;
  /** Join an existing cluster with this manager join token (FLT1-…). */
  join?: string;
  /** Brokers (HOST:PORT) of the cluster to send the join request to (with --join). */
  joinAddrs: string[];
  /** Development and tests only: plain TCP everywhere, loopback addresses only. */
  insecure: boolean;
  /** Root CA key curve for --init. */
  caCurve: "ed25519" | "p256";
  /** The new cluster's name (with --init). */
  clusterName?: string;
  hostname: string;
  /** The address peers and agents use to reach this manager. */
  advertiseAddr: string;
  /** Where to listen (all listeners share it): 127.0.0.1 unless told otherwise. */
  listenAddr: string;
  raftPort: number;
  brokerPort: number;
  /** TCP port of the API for remote operators (0: unix socket only). */
  apiPort: number;
  apiSocket: string;
  tickMs: number;
  electionTicks: number;
  forceNewCluster: boolean;
  /** Peer brokers of an external MQTT cluster instead of the embedded mesh. */
  broker?: string;
  labels: Record<string, string>;
  /** Static bootstrap (as etcd's --initial-cluster): every founder lists all founders. */
  initialCluster?: Map<number, { host: string; port: number }>;
  raftId?: number;
  clusterId?: string;
}

const KEYS = [
  "dataDir",
  "init",
  "join",
  "joinAddr",
  "insecure",
  "caCurve",
  "clusterName",
  "hostname",
  "advertiseAddr",
  "listenAddr",
  "raftPort",
  "brokerPort",
  "apiPort",
  "apiSocket",
  "tickMs",
  "electionTicks",
  "forceNewCluster",
  "broker",
  "labels",
  "initialCluster",
  "raftId",
  "clusterId",
] as const;

export const USAGE = `usage: fleet-manager --data-dir DIR [--init | --join TOKEN --join-addr HOST:PORT] [options]

  --data-dir DIR          where this manager keeps its state (required)
  --init                  create a new cluster (root CA, join tokens) with this manager as its
                          first member
  --ca-curve C            root CA key curve with --init: ed25519 (default) or p256
  --cluster-name NAME     the new cluster's name (with --init)
  --join TOKEN            join a cluster with a manager join token (\`fleet join-token manager\`)
  --join-addr HOST:PORT   a broker of that cluster (repeatable; with --join)
  --insecure              development and tests only: plain TCP for broker, Raft and API, no
                          client certificates; refused unless every address is loopback
  --advertise-addr ADDR   address other managers and agents use (default: --listen-addr)
  --listen-addr ADDR      address to listen on (default 127.0.0.1)
  --raft-port N           Raft peer port (default 4242)
  --broker-port N         embedded MQTT broker port (default 1883)
  --broker URL            use this external MQTT broker (mqtts://HOST:PORT; mqtt:// only with
                          --insecure) instead of an embedded broker and mesh: no broker port
                          is opened (\`fleet broker-config mosquitto\` configures mosquitto)
  --api-port N            TCP port of the operator API (default 0: unix socket only)
  --api-socket PATH       unix socket of the API (default DATA_DIR/fleet.sock)
  --hostname NAME         this node's hostname in the cluster (default: the machine's)
  --label K=V             a node label (repeatable)
  --tick-ms N             Raft tick (default 100)
  --election-ticks N      Raft election timeout in ticks (default 10)
  --force-new-cluster     restart a lone survivor of a lost quorum as a one-member cluster
  --initial-cluster LIST  found a cluster of several managers at once: ID=HOST:PORT,... (all
                          founders get the same list, --cluster-id and their own --raft-id);
                          requires --insecure (secure clusters are founded with init + join)
  --raft-id N             this manager's Raft id in --initial-cluster
  --cluster-id ID         the cluster id for --initial-cluster
  --config FILE           a JSON file with any of these settings (camelCase keys)
`;

export class ConfigError extends FleetError {
  constructor(message: string) {
    super("config", "invalid", message, false);
  }
}

/** Parses argv (without node and script) into a checked config, or throws ConfigError. */
export function parseManagerConfig(argv: string[]): ManagerConfig {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n\n${USAGE}`);
  }
  const { values } = parsed;
  const file = values.config ? readConfigFile(values.config) : {};
  const flags: Record<string, unknown> = {
    dataDir: values["data-dir"],
    init: values.init,
    join: values.join,
    joinAddr: values["join-addr"],
    insecure: values.insecure,
    caCurve: values["ca-curve"],
    clusterName: values["cluster-name"],
    hostname: values.hostname,
    advertiseAddr: values["advertise-addr"],
    listenAddr: values["listen-addr"],
    raftPort: num(values["raft-port"]),
    brokerPort: num(values["broker-port"]),
    apiPort: num(values["api-port"]),
    apiSocket: values["api-socket"],
    tickMs: num(values["tick-ms"]),
    electionTicks: num(values["election-ticks"]),
    forceNewCluster: values["force-new-cluster"],
    broker: values.broker,
    labels: values.label ? labelsOf(values.label) : undefined,
    initialCluster: values["initial-cluster"],
    raftId: num(values["raft-id"]),
    clusterId: values["cluster-id"],
  };
  const merged = { ...file };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
  return check(merged);
}

function parseFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    options: {
      "data-dir": { type: "string" },
      init: { type: "boolean" },
      join: { type: "string" },
      "join-addr": { type: "string", multiple: true },
      insecure: { type: "boolean" },
      "ca-curve": { type: "string" },
      "cluster-name": { type: "string" },
      hostname: { type: "string" },
      "advertise-addr": { type: "string" },
      "listen-addr": { type: "string" },
      "raft-port": { type: "string" },
      "broker-port": { type: "string" },
      "api-port": { type: "string" },
      "api-socket": { type: "string" },
      "tick-ms": { type: "string" },
      "election-ticks": { type: "string" },
      "force-new-cluster": { type: "boolean" },
      broker: { type: "string" },
      label: { type: "string", multiple: true },
      config: { type: "string" },
      "initial-cluster": { type: "string" },
      "raft-id": { type: "string" },
      "cluster-id": { type: "string" },
    },
  });
}

function num(v: string | undefined): number | string | undefined {
  if (v === undefined) return undefined;
  return /^\d+$/.test(v) ? Number(v) : v;
}

function labelsOf(list: string[]): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf("=");
    if (i <= 0) return `--label ${kv}: expected K=V`;
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  try {
    const v = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v;
  } catch (err) {
    throw new ConfigError(`config file ${path} is not a JSON object: ${(err as Error).message}`);
  }
}

function check(o: Record<string, unknown>): ManagerConfig {
  const c = new Checker();
  c.known(o, "", KEYS);
  if (typeof o.labels === "string") c.fail("label", o.labels);
  const port = (k: string, d: number) => c.int(o[k], k, { min: 0, max: 65535 }) ?? d;
  const dataDir = c.string(o.dataDir, "dataDir", { min: 1 });
  if (o.dataDir === undefined) c.fail("dataDir", "is required (--data-dir DIR)");
  const init = c.bool(o.init, "init") ?? false;
  const token = c.string(o.join, "join", { min: 1 });
  const joinAddrs = joinAddrList(c, o.joinAddr);
  if (init && token) c.fail("join", "--init and --join exclude each other");
  if (token && joinAddrs.length === 0)
    c.fail("joinAddr", "is required with --join (a broker of the cluster, HOST:PORT)");
  if (!token && joinAddrs.length > 0) c.fail("joinAddr", "only makes sense with --join TOKEN");
  const insecure = c.bool(o.insecure, "insecure") ?? false;
  const caCurve = o.caCurve ?? "ed25519";
  if (caCurve !== "ed25519" && caCurve !== "p256") c.fail("caCurve", "must be ed25519 or p256");
  const listenAddr = c.string(o.listenAddr, "listenAddr", { min: 1 }) ?? "127.0.0.1";
  const config: ManagerConfig = {
    dataDir: resolve(dataDir ?? "."),
    init,
    joinAddrs,
    insecure,
    caCurve: caCurve === "p256" ? "p256" : "ed25519",
    hostname: c.string(o.hostname, "hostname", { min: 1, max: 253 }) ?? hostname(),
    advertiseAddr: c.string(o.advertiseAddr, "advertiseAddr", { min: 1 }) ?? listenAddr,
    listenAddr,
    raftPort: port("raftPort", 4242),
    brokerPort: port("brokerPort", 1883),
    apiPort: port("apiPort", 0),
    apiSocket:
      c.string(o.apiSocket, "apiSocket", { min: 1 }) ?? join(resolve(dataDir ?? "."), "fleet.sock"),
    tickMs: c.int(o.tickMs, "tickMs", { min: 1, max: 10_000 }) ?? 100,
    electionTicks: c.int(o.electionTicks, "electionTicks", { min: 2, max: 1000 }) ?? 10,
    forceNewCluster: c.bool(o.forceNewCluster, "forceNewCluster") ?? false,
    labels: typeof o.labels === "object" ? (c.labels(o.labels, "labels") ?? {}) : {},
  };
  if (token) config.join = token;
  const clusterName = c.string(o.clusterName, "clusterName", { min: 1, max: 128 });
  if (clusterName) config.clusterName = clusterName;
  if (o.initialCluster !== undefined) {
    const members = parseInitialCluster(
      c.string(o.initialCluster, "initialCluster", { min: 1 }) ?? "",
    );
    if (typeof members === "string") c.fail("initialCluster", members);
    else config.initialCluster = members;
    const raftId = c.int(o.raftId, "raftId", { min: 1 });
    if (raftId === undefined) c.fail("raftId", "is required with --initial-cluster");
    else if (typeof members !== "string" && !members.has(raftId))
      c.fail("raftId", `${raftId} is not in --initial-cluster`);
    else config.raftId = raftId;
    const clusterId = c.string(o.clusterId, "clusterId", { min: 1, max: 64 });
    if (!clusterId || !/^[a-z0-9][a-z0-9-]*$/.test(clusterId))
      c.fail("clusterId", "is required with --initial-cluster ([a-z0-9-])");
    else config.clusterId = clusterId;
    if (init || token) c.fail("initialCluster", "excludes --init and --join");
    if (!insecure)
      c.fail(
        "initialCluster",
        "requires --insecure (static bootstrap is for development; secure clusters are " +
          "founded with --init and grown with --join)",
      );
    if (typeof members !== "string")
      for (const [id, m] of members)
        if (insecure && !isLoopback(m.host))
          c.fail("initialCluster", `member ${id} at ${m.host}: --insecure allows loopback only`);
  }
  if (insecure) {
    for (const [k, v] of [
      ["listenAddr", config.listenAddr],
      ["advertiseAddr", config.advertiseAddr],
    ] as const)
      if (!isLoopback(v))
        c.fail(k, `${v} is not a loopback address: --insecure is for development on 127.0.0.1`);
    for (const a of joinAddrs)
      if (!isLoopback(a.slice(0, a.lastIndexOf(":"))))
        c.fail("joinAddr", `${a}: --insecure allows loopback addresses only`);
  }
  const broker = c.string(o.broker, "broker", { min: 1 });
  if (broker) {
    config.broker = broker;
    if (!/^mqtts?:\/\/[^/\s]+:\d{1,5}\/?$/.test(broker))
      c.fail("broker", `${broker}: expected mqtts://HOST:PORT`);
    else if (broker.startsWith("mqtt://") && !config.insecure)
      c.fail("broker", "plain mqtt:// is for --insecure development clusters: use mqtts://");
  }
  if (!c.ok) {
    const lines = c.problems.map((p) => `  ${p.path}: ${p.reason}`).join("\n");
    throw new ConfigError(`invalid configuration:\n${lines}\n\n${USAGE}`);
  }
  return config;
}

/** 127.0.0.0/8, ::1 and localhost: the only addresses plain TCP may use. */
export function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === "::1" || host === "localhost";
}

function joinAddrList(c: Checker, v: unknown): string[] {
  if (v === undefined) return [];
  const list = Array.isArray(v) ? v : [v];
  const out: string[] = [];
  for (const a of list) {
    if (typeof a !== "string" || !/^[^:\s]+:\d{1,5}$/.test(a))
      c.fail("joinAddr", `${JSON.stringify(a)} is not HOST:PORT`);
    else out.push(a);
  }
  return out;
}

function parseInitialCluster(text: string): Map<number, { host: string; port: number }> | string {
  const out = new Map<number, { host: string; port: number }>();
  for (const part of text.split(",").filter(Boolean)) {
    const m = /^(\d+)=([^:\s]+):(\d+)$/.exec(part);
    if (!m) return `"${part}" is not ID=HOST:PORT`;
    out.set(Number(m[1]), { host: m[2]!, port: Number(m[3]) });
  }
  return out.size > 0 ? out : "must list at least one member";
}
