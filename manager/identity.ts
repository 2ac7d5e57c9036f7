// A manager's identity in its data dir (`manager.json`): which cluster it belongs to, its node
// id and Raft id, and the last known manager addresses (a cache for restarts, refreshed from
// the store). Created once, by `--init` or a successful join; read on every start.

import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { shape as s } from "../core/codec/shape.ts";
import { FleetError } from "../core/errors.ts";
import { readJson, writeFileAtomic } from "./files.ts";

export interface Member {
  raftId: number;
  host: string;
  port: number;
}

export interface Identity {
  clusterId: string;
  nodeId: string;
  raftId: number;
  members: Member[];
}

const member = s.object({ raftId: s.int(1), host: s.string(253, 1), port: s.int(1, 65535) });
const identityShape = s.object({
  clusterId: s.string(64, 1),
  nodeId: s.string(64, 1),
  raftId: s.int(1),
  members: s.array(member, 64),
});

export function identityPath(dataDir: string): string {
  return join(dataDir, "manager.json");
}

export async function loadIdentity(dataDir: string): Promise<Identity | undefined> {
  const v = await readJson(identityPath(dataDir));
  if (v === undefined) return undefined;
  const bad = identityShape(v, "manager.json", 0);
  if (bad) throw new FleetError("identity", "corrupt", `${identityPath(dataDir)}: ${bad}`);
  return v as Identity;
}

export async function saveIdentity(dataDir: string, id: Identity): Promise<void> {
  await writeFileAtomic(identityPath(dataDir), `${JSON.stringify(id, null, 2)}\n`);
}

/** A Raft id: random, positive, below 2^48 (a safe integer, unlikely to collide). */
export function newRaftId(): number {
  return randomBytes(6).readUIntBE(0, 6) || 1;
}

/** This node's TLS material (contract 1): `certs/ca.pem`, `certs/node.pem`, `certs/node.key`. */
export interface CertFiles {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export function certsDir(dataDir: string): string {
  return join(dataDir, "certs");
}

/** Writes the three files atomically (key last-but-one, mode 0600; certificates 0644). */
export async function saveCerts(dataDir: string, c: CertFiles): Promise<void> {
  const dir = certsDir(dataDir);
  await writeFileAtomic(join(dir, "ca.pem"), c.caPem, 0o644);
  await writeFileAtomic(join(dir, "node.key"), c.keyPem, 0o600);
  await writeFileAtomic(join(dir, "node.pem"), c.certPem, 0o644);
}

export async function loadCerts(dataDir: string): Promise<CertFiles | undefined> {
  const dir = certsDir(dataDir);
  try {
    const [caPem, certPem, keyPem] = await Promise.all(
      ["ca.pem", "node.pem", "node.key"].map((f) => readFile(join(dir, f), "utf8")),
    );
    return { caPem: caPem!, certPem: certPem!, keyPem: keyPem! };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
