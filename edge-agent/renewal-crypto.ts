// The crypto of a certificate renewal as two operations on PEM text: build the csr (a new key
// pair, the proofs by the current and the new key) and check the CA's answer (the node's
// certificate, for the new key, chained to the pinned root). renewal.ts calls them through
// RenewalCrypto: in this process (inProcessCrypto, what unit tests use), or in a short-lived
// child process (crypto-child.ts, what the agent uses) so that the long-running agent never
// loads the X.509/ASN.1 and signature libraries (renewal-ops.ts, ~10 MB once evaluated).

import { encodeMessage } from "../core/codec/index.ts";
import { CryptoError } from "../core/crypto/errors.ts";

export interface CsrRequest {
  clusterId: string;
  nodeId: string;
  /** The current certificate's serial (certFacts). */
  serial: string;
  /** The current key and certificate. */
  keyPem: string;
  certPem: string;
  /** The key of a csr already sent (a retry reuses it, so a late answer still fits). */
  nextKeyPem?: string;
  /** In-process only (tests): the new key's seed; a child draws its own. */
  randomBytes?: (n: number) => Uint8Array;
}

export interface CsrAnswer {
  /** The encoded `csr` message. */
  body: Uint8Array;
  nextKeyPem: string;
}

export interface CheckRequest {
  caPem: string;
  /** The CA's answer. */
  certPem: string;
  nodeId: string;
  nextKeyPem: string;
  nowMs: number;
}

export interface RenewalCrypto {
  csr(r: CsrRequest): CsrAnswer | Promise<CsrAnswer>;
  /** Throws (rejects) a CryptoError unless certPem is this node's, for nextKeyPem, from caPem. */
  check(r: CheckRequest): void | Promise<void>;
}

type Ops = typeof import("./renewal-ops.ts");
let ops: Ops | undefined;

/**
 * The X.509/ASN.1 and signature code a renewal needs (renewal-ops.ts, ~10 MB once evaluated),
 * loaded when the first csr is due: the schedule and the key check at start use node:crypto.
 */
export async function loadRenewalOps(): Promise<Ops> {
  ops ??= await import("./renewal-ops.ts");
  return ops;
}

let defaultCrypto: RenewalCrypto | undefined;

/**
 * Where renewals without a `crypto` option do their crypto from now on: the agent's entry
 * point sets a child process (crypto-child.ts); unset, it runs in this process (loaded lazily).
 */
export function setRenewalCrypto(c: RenewalCrypto | undefined): void {
  defaultCrypto = c;
}

/** The crypto to use now without loading code: setRenewalCrypto's, or the loaded in-process one. */
export function readyCrypto(): RenewalCrypto | undefined {
  return defaultCrypto ?? (ops ? inProcessCrypto(ops) : undefined);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function randomSeed(n: number): Uint8Array {
  return new Uint8Array(globalThis.crypto.getRandomValues(new Uint8Array(n)));
}

/** The operations on the loaded code (synchronous). */
export function inProcessCrypto(o: Ops): RenewalCrypto {
  return {
    csr(r) {
      const key = o.privateKeyFromPem(r.keyPem);
      const seedBytes = o.keySeedBytes(key.curve);
      const next = r.nextKeyPem
        ? o.privateKeyFromPem(r.nextKeyPem)
        : o.generateKeyPair(key.curve, r.randomBytes?.(seedBytes) ?? randomSeed(seedBytes));
      const subject = { clusterId: r.clusterId, nodeId: r.nodeId, serial: r.serial };
      const proof = o.signRenewal(key, next, subject);
      const role = o.parseCertificate(r.certPem).subject.organizationalUnit;
      const body = encodeMessage("csr", {
        ...proof,
        role: role === "manager" ? "manager" : "worker",
        certPem: r.certPem,
      });
      return { body, nextKeyPem: r.nextKeyPem ?? o.privateKeyToPem(next) };
    },
    check(r) {
      const root = o.parseCertificate(r.caPem);
      const id = o.verifyIdentity(r.certPem, root, { nowMs: r.nowMs });
      if (id.nodeId !== r.nodeId) throw new CryptoError("wrong-identity", "not this node");
      if (!equal(id.publicKey, o.privateKeyFromPem(r.nextKeyPem).publicKey))
        throw new CryptoError("bad-key", "certificate is not for the key just sent");
    },
  };
}
