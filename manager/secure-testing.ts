// Test helpers for secure mode: a cluster root and certificates from core/crypto/testing.ts,
// SecurityDeps over an in-memory revocation list and join token, and a logger that records.
// Tests only: keys are derived from labels.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRootCA, issueCertificate, type Role, type RootCA } from "../core/crypto/identity.ts";
import { type Curve, privateKeyToPem } from "../core/crypto/keys.ts";
import { DAY_MS, testBytes, testKey } from "../core/crypto/testing.ts";
import type { Logger } from "./log.ts";
import type { NodeTls, SecurityDeps } from "./secure.ts";

export const TEST_JOIN_TOKEN = `FLT1-${"a".repeat(64)}-${"b".repeat(32)}`;

export interface LogEntry {
  level: string;
  component: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** A Logger that keeps every entry (children share the list). */
export function recordingLogger(entries: LogEntry[] = [], component = "test"): Logger {
  const at =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      void entries.push({ level, component, msg, fields });
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (c) => recordingLogger(entries, `${component}.${c}`),
    line:
      (level = "info") =>
      (l) =>
        at(level)(l),
  };
}

export interface IssuedTls extends NodeTls {
  serial: string;
  nodeId: string;
}

export interface IssueOpts {
  /** Issue as of this time (ms); now by default. Expired certificates: a time long ago. */
  nowMs?: number;
  expiryMs?: number;
  /** IP SANs (mosquitto clients check the broker's address against them). */
  ipAddresses?: string[];
  keyCurve?: Curve;
}

/** A cluster: its root, certificates for any identity, and SecurityDeps to test with. */
export class TestCluster {
  readonly root: RootCA;
  readonly revoked = new Set<string>();
  readonly removed = new Set<string>();
  readonly log: LogEntry[] = [];
  #n = 0;

  /** `caLabel` picks the root's key: another label is another CA for the same cluster id. */
  constructor(
    readonly clusterId = "c1",
    readonly curve: Curve = "ed25519",
    caLabel = clusterId,
  ) {
    // Made a year back so that certificates issued in the past chain to it.
    this.root = createRootCA({
      clusterId,
      key: testKey(`ca:${caLabel}`, curve),
      serialRandom: testBytes(`serial:ca:${caLabel}`, 16),
      nowMs: Date.now() - 365 * DAY_MS,
    });
  }

  issue(nodeId: string, role: Role, o: IssueOpts = {}): IssuedTls {
    const key = testKey(`${this.clusterId}:${nodeId}`, o.keyCurve ?? this.curve);
    const cert = issueCertificate({
      ca: this.root,
      clusterId: this.clusterId,
      nodeId,
      role,
      publicKey: key.publicKey,
      serialRandom: testBytes(`serial:${this.clusterId}:${nodeId}:${this.#n++}`, 16),
      nowMs: o.nowMs ?? Date.now(),
      expiryMs: o.expiryMs ?? 90 * DAY_MS,
      ipAddresses: o.ipAddresses ?? [],
    });
    return {
      caPem: this.root.certPem,
      certPem: cert.certPem,
      keyPem: privateKeyToPem(key),
      serial: cert.serial,
      nodeId,
    };
  }

  deps(material: () => NodeTls, over: Partial<SecurityDeps> = {}): SecurityDeps {
    return {
      clusterId: this.clusterId,
      tls: material,
      isRevoked: (serial) => this.revoked.has(serial),
      isNodeRemoved: (nodeId) => this.removed.has(nodeId),
      joinTokenRole: (token) => (token === TEST_JOIN_TOKEN ? "worker" : undefined),
      log: recordingLogger(this.log),
      ...over,
    };
  }

  /** Whether a warning whose fields mention `text` was logged. */
  logged(text: string): boolean {
    return this.log.some((e) => JSON.stringify(e).includes(text));
  }
}

/** Writes ca.pem, <name>.pem and <name>.key into `dir`; returns their paths. */
export function writeTls(dir: string, name: string, m: NodeTls) {
  const paths = {
    ca: join(dir, `${name}-ca.pem`),
    cert: join(dir, `${name}.pem`),
    key: join(dir, `${name}.key`),
  };
  writeFileSync(paths.ca, m.caPem);
  writeFileSync(paths.cert, m.certPem);
  writeFileSync(paths.key, m.keyPem, { mode: 0o600 });
  return paths;
}
