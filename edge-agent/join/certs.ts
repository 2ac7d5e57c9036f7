// The data dir's TLS files (managers and agents alike): <data-dir>/certs/ca.pem (cluster root),
// node.pem (this node's certificate) and node.key (PKCS#8, mode 0600), each written atomically
// (tmp + fsync + rename + dir fsync). The key is written first and the root last, so a crash
// midway leaves no complete set and the node joins again.

import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { CERTS_DIR, certPaths as materialPaths } from "../renewal.ts";
import { atomicWrite } from "../state/state.ts";

export interface CertPaths {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** Absolute paths (the agent's config keeps them; renewal.ts names the same files). */
export function certPaths(dataDir: string): CertPaths {
  const p = materialPaths(resolve(dataDir));
  return { caFile: p.ca, certFile: p.cert, keyFile: p.key };
}

/** True when the data dir holds a complete set (the node has joined). */
export function hasCerts(dataDir: string): boolean {
  const p = certPaths(dataDir);
  return existsSync(p.caFile) && existsSync(p.certFile) && existsSync(p.keyFile);
}

export function writeCerts(
  dataDir: string,
  m: { caPem: string; certPem: string; keyPem: string },
): CertPaths {
  const p = certPaths(dataDir);
  mkdirSync(join(resolve(dataDir), CERTS_DIR), { recursive: true, mode: 0o700 });
  atomicWrite(p.keyFile, Buffer.from(m.keyPem));
  atomicWrite(p.certFile, Buffer.from(m.certPem));
  atomicWrite(p.caFile, Buffer.from(m.caPem));
  return p;
}
