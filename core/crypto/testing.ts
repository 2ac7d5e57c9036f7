// Deterministic stand-ins for injected randomness, for tests and simulations: bytes expanded
// from a label with SHA-256, and a ready-made cluster CA. Never use these for real keys.

import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, utf8 } from "./bytes.ts";
import { createRootCA, issueCertificate, type Role, type RootCA } from "./identity.ts";
import { type Curve, generateKeyPair, type KeyPair, keySeedBytes } from "./keys.ts";

export function testBytes(label: string, length: number): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (let i = 0; blocks.length * 32 < length; i++) blocks.push(sha256(utf8(`${label}#${i}`)));
  return concatBytes(...blocks).subarray(0, length);
}

export function testKey(label: string, curve: Curve = "ed25519"): KeyPair {
  return generateKeyPair(curve, testBytes(`key:${label}`, keySeedBytes(curve)));
}

export const TEST_NOW_MS = Date.UTC(2026, 0, 1);
export const DAY_MS = 24 * 60 * 60 * 1000;

export function testRoot(clusterId = "c1", curve: Curve = "ed25519", nowMs = TEST_NOW_MS): RootCA {
  const key = testKey(`ca:${clusterId}`, curve);
  return createRootCA({
    clusterId,
    key,
    serialRandom: testBytes(`serial:${clusterId}`, 16),
    nowMs,
  });
}

export function testNodeCert(
  root: RootCA,
  nodeId: string,
  role: Role = "worker",
  o: { key?: KeyPair; nowMs?: number; expiryMs?: number } = {},
) {
  const key = o.key ?? testKey(nodeId);
  const cert = issueCertificate({
    ca: root,
    clusterId: root.cert.subject.organization,
    nodeId,
    role,
    publicKey: key.publicKey,
    serialRandom: testBytes(`serial:${nodeId}:${o.nowMs ?? 0}:${role}`, 16),
    nowMs: o.nowMs ?? TEST_NOW_MS,
    expiryMs: o.expiryMs ?? 90 * DAY_MS,
  });
  return { key, ...cert };
}
