// The node's certificate renewal (edge-agent/renewal.ts): its options, where the material lives
// (<data-dir>/certs), reading it back after a crash midway through an install, and the
// re-enrolment window kept in <data-dir>/reenrol-window.json.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CryptoError } from "../core/crypto/errors.ts";
import { limits } from "../core/limits.ts";
import { keyFitsCert } from "./cert-facts.ts";
import type { RenewalCrypto } from "./renewal-crypto.ts";

export const CERTS_DIR = "certs";

export interface CertPaths {
  ca: string;
  cert: string;
  key: string;
  /** The previous key, kept while a new certificate is being written (crash recovery). */
  prevKey: string;
}

export function certPaths(dataDir: string): CertPaths {
  const dir = join(dataDir, CERTS_DIR);
  return {
    ca: join(dir, "ca.pem"),
    cert: join(dir, "node.pem"),
    key: join(dir, "node.key"),
    prevKey: join(dir, "node.key.prev"),
  };
}

export interface NodeMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/**
 * Reads the node's material; when a crash left node.key newer than node.pem (the new key was
 * written, the new certificate not), the previous key that matches the certificate is used.
 */
export function loadMaterial(paths: CertPaths): NodeMaterial {
  const caPem = readFileSync(paths.ca, "utf8");
  const certPem = readFileSync(paths.cert, "utf8");
  let keyPem = readFileSync(paths.key, "utf8");
  const same = (pem: string) => keyFitsCert(pem, certPem);
  if (!same(keyPem)) {
    const prev = existsSync(paths.prevKey) ? readFileSync(paths.prevKey, "utf8") : undefined;
    if (prev === undefined || !same(prev))
      throw new CryptoError("bad-key", `${paths.key} does not match ${paths.cert}`);
    keyPem = prev;
  }
  return { caPem, certPem, keyPem };
}

export const REENROL_WINDOW_FILE = "reenrol-window.json";

/** The window kept by setReenrolWindow; undefined when absent or damaged (the default then). */
export function loadReenrolWindow(path: string): number | undefined {
  try {
    const v = (JSON.parse(readFileSync(path, "utf8")) as { reenrolWindowMs?: unknown })
      .reenrolWindowMs;
    return Number.isSafeInteger(v) &&
      (v as number) >= 0 &&
      (v as number) <= limits.reenrolWindowMsMax
      ? (v as number)
      : undefined;
  } catch {
    return undefined;
  }
}

/** What the renewal needs from the session. */
export interface RenewalLink {
  /** Publishes on the live connection; false when offline (the renewal retries). */
  publish(topic: string, payload: Uint8Array, qos: 0 | 1): boolean;
  /** New material: reconnect with it (Session.updateTls). */
  updateTls(tls: { cert: string; key: string; ca: string }): void;
}

export interface RenewalOptions {
  clusterId: string;
  nodeId: string;
  paths: CertPaths;
  link: RenewalLink;
  /** The cluster's re-enrolment window as last learned (loadReenrolWindow); the default when
   * absent. setReenrolWindow replaces it. */
  reenrolWindowMs?: number;
  /** Where a learned window is kept (<data-dir>/reenrol-window.json): an agent offline past
   * expiry restarts knowing it. Absent: not kept. */
  windowFile?: string;
  /**
   * Join listeners (mqtts://) to re-enrol through when the certificate has expired within the
   * window and no broker session is up: brokers that refuse an expired certificate in the
   * handshake (an external mosquitto) never admit the restricted session (join/reenrol.ts).
   */
  joinBrokers?: string[];
  /** Resend an unanswered csr after this long (default 30 s, jittered ±50%). */
  retryMs?: number;
  now?: () => number;
  random?: () => number;
  randomBytes?: (n: number) => Uint8Array;
  /** The csr and the answer's check (renewal-crypto.ts); default setRenewalCrypto's, else in
   * this process. */
  crypto?: RenewalCrypto;
  log?: (line: string) => void;
  /** After each successful renewal (tests, metrics). */
  onRenewed?: (m: { serial: string; notAfterMs: number }) => void;
}
