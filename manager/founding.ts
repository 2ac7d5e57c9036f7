// How a manager gets its identity the first time: `--init` founds a cluster (root CA, both join
// tokens, this manager's certificate), `--join` asks an existing cluster's CA. Either way the
// certificates are written (contract 1) before manager.json, whose presence means "done": a
// crash in between repeats the step on the next start.
//
// A founder's CA reaches the store only once Raft runs: until its registration commits, it
// waits in `ca-pending.json` (mode 0600) in the data dir, which registration then removes.

import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { generateKeyPair, keySeedBytes, privateKeyToPem } from "../core/crypto/keys.ts";
import { newGossipKeyRing } from "../core/gossip-keys.ts";
import type { Cluster } from "../core/model/types.ts";
import { CertificateAuthority } from "./ca/ca.ts";
import { clusterCAFields } from "./ca/lifecycle.ts";
import type { ManagerConfig } from "./config.ts";
import { readJson, writeFileAtomic } from "./files.ts";
import { type Identity, newRaftId, saveCerts, saveIdentity } from "./identity.ts";
import { newId } from "./ids.ts";
import { joinAsManager } from "./join.ts";

export type PendingCA = Required<Pick<Cluster, "rootCA" | "joinTokens" | "joinTokenStrings">> &
  Pick<Cluster, "gossipKeys">;

const pendingPath = (dataDir: string) => join(dataDir, "ca-pending.json");

const random = (n: number) => new Uint8Array(randomBytes(n));

export function altNamesFor(host: string): { ipAddresses?: string[]; dnsNames?: string[] } {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":")
    ? { ipAddresses: [host] }
    : { dnsNames: [host] };
}

/** `--init`: a new cluster id, root CA, tokens and this manager's certificate. */
export async function foundCluster(c: ManagerConfig): Promise<Identity> {
  const clusterId = newId();
  const nodeId = newId();
  const raftId = newRaftId();
  const { ca, tokens } = CertificateAuthority.create({ clusterId, curve: c.caCurve });
  const key = generateKeyPair(c.caCurve, random(keySeedBytes(c.caCurve)));
  const issued = ca.issue(nodeId, "manager", key.publicKey, altNamesFor(c.advertiseAddr));
  // The gossip key ring is born with the CA (a cluster without one gets it from its leader).
  const pending: PendingCA = {
    ...clusterCAFields(ca, tokens),
    gossipKeys: newGossipKeyRing(random, Date.now()),
  };
  await writeFileAtomic(pendingPath(c.dataDir), JSON.stringify(pending), 0o600);
  await saveCerts(c.dataDir, {
    caPem: ca.root.certPem,
    certPem: issued.certPem,
    keyPem: privateKeyToPem(key),
  });
  const id: Identity = {
    clusterId,
    nodeId,
    raftId,
    members: [{ raftId, host: c.advertiseAddr, port: c.raftPort }],
  };
  await saveIdentity(c.dataDir, id);
  return id;
}

/** `--join TOKEN`: the cluster's CA certifies this manager and gives it a Raft id. */
export async function joinCluster(c: ManagerConfig, log: (l: string) => void): Promise<Identity> {
  const r = await joinAsManager({
    token: c.join!,
    addrs: c.joinAddrs,
    insecure: c.insecure,
    raftAddr: `${c.advertiseAddr}:${c.raftPort}`,
    brokerAddr: `${c.advertiseAddr}:${c.brokerPort}`,
    description: {
      hostname: c.hostname,
      platform: { os: process.platform, arch: process.arch },
      resources: { nanoCPUs: 0, memoryBytes: 0 },
      engineLabels: {},
    },
    log,
  });
  await saveCerts(c.dataDir, r.certs);
  const id: Identity = {
    clusterId: r.clusterId,
    nodeId: r.nodeId,
    raftId: r.raftId,
    members: r.members,
  };
  await saveIdentity(c.dataDir, id);
  return id;
}

export async function loadPendingCA(dataDir: string): Promise<PendingCA | undefined> {
  return (await readJson(pendingPath(dataDir))) as PendingCA | undefined;
}

export async function clearPendingCA(dataDir: string): Promise<void> {
  await rm(pendingPath(dataDir), { force: true });
}
