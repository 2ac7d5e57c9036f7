// The agent's configuration: flags over a JSON config file (`--config`, else
// <data-dir>/agent.json). The identity part (cluster, node id, brokers) is written back to
// <data-dir>/agent.json so that `run --data-dir D` alone works after the first start.
// Bad flags or a bad file are a ConfigError saying what to fix; nothing else throws.
// A first-boot image may instead carry a join token (`joinToken` in the file, or `--token`) and
// manager addresses (`brokers`): `run` then joins first (pendingJoin) and writes the identity
// and TLS file paths back here, without the token.

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { FleetError } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { isTopicId } from "../core/topics.ts";
import { atomicWrite } from "./state/state.ts";

export const CONFIG_FILE = "agent.json";

export interface AgentConfig {
  dataDir: string;
  clusterId: string;
  nodeId: string;
  brokers: string[];
  hostname: string;
  labels: Record<string, string>;
  heartbeatPeriodMs: number;
  offlineAfterMs: number;
  pollIntervalMs: number;
  dockerSocket?: string;
  tls?: Tls;
  /** Join listeners (mqtts://) to re-enrol through after an expiry when the brokers refuse the
   * expired certificate (an external mosquitto); a join through one writes it. */
  joinBrokers?: string[];
  /** false: no gossip (`--gossip off`; large fleets, where all-to-all costs N² deliveries). */
  gossip?: boolean;
}

type Tls = { certFile?: string; keyFile?: string; caFile?: string };

export class ConfigError extends FleetError {
  constructor(message: string) {
    super("agent", "bad_config", message, false);
    this.name = "ConfigError";
  }
}

const NUMBERS = ["heartbeat-ms", "offline-after-ms", "poll-ms"] as const;
const STRINGS = [
  "data-dir",
  "cluster",
  "node-id",
  "config",
  "docker-socket",
  "hostname",
  "token",
  "gossip",
];
const TLS = ["tls-cert", "tls-key", "tls-ca"];
/** Keys a join writes to the data dir's agent.json. */
const JOINED = ["clusterId", "nodeId", "brokers", "tls", "joinBrokers"];

/** Parses `--name value` / `--name=value` flags; repeated --broker and --label accumulate. */
export function parseFlags(argv: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const known = new Set([...NUMBERS, ...STRINGS, ...TLS, "broker", "label", "join-broker"]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) throw new ConfigError(`unexpected argument ${JSON.stringify(a)}`);
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (!known.has(name)) throw new ConfigError(`unknown flag --${name}`);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`--${name} needs a value`);
    out.set(name, [...(out.get(name) ?? []), value]);
  }
  return out;
}

function readFile(path: string): Record<string, unknown> {
  try {
    const v = JSON.parse(readFileSync(path, "utf8"));
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v;
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${err instanceof Error ? err.message : err}`);
  }
}

function labelsOf(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const eq = l.indexOf("=");
    if (eq <= 0) throw new ConfigError(`--label ${JSON.stringify(l)}: expected key=value`);
    out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

function num(v: unknown, what: string, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new ConfigError(`${what}: expected a number >= ${min}`);
  return n;
}

function sources(argv: string[]) {
  const f = parseFlags(argv);
  const one = (k: string) => f.get(k)?.at(-1);
  const dataDir = one("data-dir");
  if (!dataDir) throw new ConfigError("--data-dir is required");
  // `--config FILE` (e.g. a flashed image's) is read over the data dir's own agent.json, except
  // what a join wrote there (identity, brokers, TLS files): the join's answer wins for those.
  const own = join(dataDir, CONFIG_FILE);
  const path = one("config") ?? own;
  const saved = path !== own && existsSync(own) ? readFile(own) : {};
  const file = { ...saved, ...(existsSync(path) ? readFile(path) : {}) };
  if (saved.tls !== undefined) for (const k of JOINED) if (k in saved) file[k] = saved[k];
  const str = (k: string, fk: string) =>
    one(k) ?? (typeof file[fk] === "string" ? (file[fk] as string) : undefined);
  const fileLabels = typeof file.labels === "object" && file.labels !== null ? file.labels : {};
  const labels = { ...(fileLabels as Record<string, string>), ...labelsOf(f.get("label") ?? []) };
  return { f, one, dataDir, file, str, labels };
}

export interface PendingJoin {
  dataDir: string;
  token: string;
  /** The broker addresses given (mqtts:// URLs or host:port): the managers to join through. */
  managers: string[];
  labels: Record<string, string>;
  hostname: string;
}

/**
 * A join `run` must do first: a token in the flags (`--token`) or the file (`joinToken`) and
 * no certificate set with an identity in the data dir yet (`hasCerts`: edge-agent/join's).
 */
export function pendingJoin(
  argv: string[],
  hasCerts: (dataDir: string) => boolean,
): PendingJoin | undefined {
  const { f, dataDir, file, str, labels } = sources(argv);
  const token = str("token", "joinToken");
  // Certificates without an identity in the config: a join that crashed before its last write.
  const joined = hasCerts(dataDir) && str("node-id", "nodeId") && str("cluster", "clusterId");
  if (!token || joined) return undefined;
  const managers = f.get("broker") ?? (Array.isArray(file.brokers) ? file.brokers.map(String) : []);
  if (managers.length === 0)
    throw new ConfigError("a join token needs the managers' addresses (--broker, or brokers)");
  return { dataDir, token, managers, labels, hostname: str("hostname", "hostname") ?? hostname() };
}

/** Resolves the configuration from flags and files. */
export function loadConfig(argv: string[]): AgentConfig {
  const { f, one, dataDir, file, str, labels } = sources(argv);
  const clusterId = str("cluster", "clusterId");
  const nodeId = str("node-id", "nodeId");
  if (!clusterId || !isTopicId(clusterId)) throw new ConfigError("--cluster: missing or invalid");
  if (!nodeId || !isTopicId(nodeId)) throw new ConfigError("--node-id: missing or invalid");
  const brokers = f.get("broker") ?? (Array.isArray(file.brokers) ? file.brokers.map(String) : []);
  if (brokers.length === 0) throw new ConfigError("--broker URL is required (repeat for failover)");
  for (const b of brokers) {
    if (!/^mqtts?:\/\/[^/]+/.test(b))
      throw new ConfigError(`--broker ${b}: expected mqtt:// or mqtts://`);
  }
  const config: AgentConfig = {
    dataDir,
    clusterId,
    nodeId,
    brokers,
    hostname: str("hostname", "hostname") ?? hostname(),
    labels,
    heartbeatPeriodMs: num(
      one("heartbeat-ms") ?? file.heartbeatPeriodMs,
      "heartbeat",
      limits.heartbeatPeriodMsDefault,
      100,
    ),
    offlineAfterMs: num(
      one("offline-after-ms") ?? file.offlineAfterMs,
      "offline-after",
      limits.agentOfflineAfterMsDefault,
      0,
    ),
    pollIntervalMs: num(
      one("poll-ms") ?? file.pollIntervalMs,
      "poll",
      limits.agentPollIntervalMsDefault,
      50,
    ),
  };
  const joinBrokers =
    f.get("join-broker") ?? (Array.isArray(file.joinBrokers) ? file.joinBrokers.map(String) : []);
  for (const b of joinBrokers)
    if (!/^mqtts:\/\/[^/]+/.test(b)) throw new ConfigError(`--join-broker ${b}: expected mqtts://`);
  if (joinBrokers.length > 0) config.joinBrokers = joinBrokers;
  const gossip = one("gossip") ?? file.gossip;
  if (gossip !== undefined) {
    if (!["on", "off", true, false].includes(gossip as string))
      throw new ConfigError("--gossip: on or off (gossip: true or false in the file)");
    config.gossip = gossip === "on" || gossip === true;
  }
  const socket = str("docker-socket", "dockerSocket");
  if (socket) config.dockerSocket = socket;
  // saveConfig writes `tls: {certFile, keyFile, caFile}`; `tlsCert` etc. are accepted too.
  const ft = typeof file.tls === "object" && file.tls !== null ? (file.tls as Tls) : {};
  const fileTls = (k: keyof Tls) => (typeof ft[k] === "string" ? ft[k] : undefined);
  const tls = {
    certFile: one("tls-cert") ?? fileTls("certFile") ?? str("tls-cert", "tlsCert"),
    keyFile: one("tls-key") ?? fileTls("keyFile") ?? str("tls-key", "tlsKey"),
    caFile: one("tls-ca") ?? fileTls("caFile") ?? str("tls-ca", "tlsCa"),
  };
  if (tls.certFile || tls.keyFile || tls.caFile) config.tls = JSON.parse(JSON.stringify(tls));
  return config;
}

/** Writes the identity and settings back to <data-dir>/agent.json. */
export function saveConfig(c: AgentConfig): void {
  const { dataDir: _, ...rest } = c;
  const file = { ...rest, brokers: c.brokers };
  mkdirSync(c.dataDir, { recursive: true, mode: 0o700 });
  atomicWrite(join(c.dataDir, CONFIG_FILE), Buffer.from(`${JSON.stringify(file, null, 2)}\n`));
}
