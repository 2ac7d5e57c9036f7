// The agent's side of joining: refuse a data dir that already holds certificates, describe the
// board, join as a worker (client.ts), then write the certificates (certs.ts) and the agent's
// config (identity, mqtts:// brokers, TLS file paths; the token dropped) so that
// `edge-agent run --data-dir D` needs nothing else. Nothing is written unless the join succeeded.

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import { CONFIG_FILE } from "../config.ts";
import { describeNode, detectHardware } from "../labels/labels.ts";
import { atomicWrite } from "../state/state.ts";
import { hasCerts, writeCerts } from "./certs.ts";
import {
  brokerUrl,
  type JoinOptions,
  type JoinResult,
  joinCluster,
  parseManager,
} from "./client.ts";
import { JoinError } from "./errors.ts";

export interface EnrolOptions
  extends Omit<JoinOptions, "token" | "managers" | "description" | "expectRole"> {
  dataDir: string;
  token: string;
  managers: string[];
  labels?: Record<string, string>;
  hostname?: string;
}

function readConfig(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  try {
    const v = JSON.parse(readFileSync(path, "utf8"));
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v;
  } catch {
    // reported below
  }
  throw new JoinError("bad-input", `${path} is not a JSON object; fix or remove it first`);
}

/** Joins the cluster and writes the data dir; a JoinError (nothing written) otherwise. */
export async function enrolAgent(o: EnrolOptions): Promise<JoinResult> {
  const configPath = join(o.dataDir, CONFIG_FILE);
  const existing = readConfig(configPath); // refused before joining, not after
  // Certificates alone (no identity saved: a join that crashed midway) are joined over.
  if (hasCerts(o.dataDir) && typeof existing.nodeId === "string")
    throw new JoinError(
      "already-joined",
      `${o.dataDir} already holds certificates; run the agent, or remove ${join(o.dataDir, "certs")} to join again`,
    );
  const hw = detectHardware({ configured: o.labels ?? {} });
  const host = o.hostname ?? osHostname();
  const r = await joinCluster({
    ...o,
    expectRole: "worker",
    description: describeNode(host, hw),
  });
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const tls = writeCerts(o.dataDir, r);
  const { joinToken: _, ...keep } = existing;
  const fileLabels = typeof keep.labels === "object" && keep.labels !== null ? keep.labels : {};
  // Addresses joined through that are not brokers of the cluster are join-only listeners (an
  // external broker's): kept to re-enrol through after an expiry (edge-agent/join/reenrol.ts).
  const joinBrokers = o.managers
    .map((m) => brokerUrl(parseManager(m)))
    .filter((u) => !r.brokers.includes(u));
  const config = {
    ...keep,
    clusterId: r.clusterId,
    nodeId: r.nodeId,
    brokers: r.brokers,
    ...(joinBrokers.length > 0 ? { joinBrokers } : {}),
    ...(o.hostname ? { hostname: o.hostname } : {}),
    labels: { ...fileLabels, ...o.labels },
    tls,
  };
  atomicWrite(configPath, Buffer.from(`${JSON.stringify(config, null, 2)}\n`));
  return r;
}
