// The cluster's certificate authority (runs on the Raft leader): creates the root, answers join
// requests, renews and re-enrols nodes, reissues on promotion/demotion, issues operator (admin)
// certificates and keeps the revocation list. Validation comes before any side effect; bad
// input is a CryptoError and changes nothing. Wiring into the dispatcher is done elsewhere.

import { randomBytes as nodeRandomBytes } from "node:crypto";
import { toHex } from "../../core/crypto/bytes.ts";
import { buildCrl } from "../../core/crypto/crl.ts";
import { CryptoError } from "../../core/crypto/errors.ts";
import {
  createRootCA,
  type Identity,
  type IssuedCertificate,
  issueCertificate,
  type Role,
  type RootCA,
  verifyIdentity,
} from "../../core/crypto/identity.ts";
import { type Curve, generateKeyPair, keySeedBytes } from "../../core/crypto/keys.ts";
import {
  type JoinProof,
  type RenewalProof,
  verifyJoinProof,
  verifyRenewalProof,
} from "../../core/crypto/proof.ts";
import {
  formatJoinToken,
  type JoinRole,
  matchJoinToken,
  parseJoinToken,
  tokenSecretHash,
} from "../../core/crypto/token.ts";
import { limits } from "../../core/limits.ts";
import { RevocationList } from "./revocation.ts";

export interface CAOptions {
  clusterId: string;
  root: RootCA;
  joinTokenHashes: { worker: string; manager: string };
  revocations?: RevocationList;
  nodeCertExpiryMs?: number;
  reenrolWindowMs?: number;
  now?: () => number;
  randomBytes?: (n: number) => Uint8Array;
}

export interface AltNames {
  dnsNames?: string[];
  ipAddresses?: string[];
}

export interface JoinResult extends IssuedCertificate {
  nodeId: string;
  role: JoinRole;
}

export interface RenewResult extends IssuedCertificate {
  role: Role;
  /** True when the presented certificate had already expired (re-enrolment). */
  reenrolled: boolean;
}

/** What the store knows of a node the CA is asked about; undefined when it was removed. */
export interface NodeRecord {
  role: "worker" | "manager";
}

export class CertificateAuthority {
  readonly clusterId: string;
  readonly root: RootCA;
  readonly revocations: RevocationList;
  nodeCertExpiryMs: number;
  reenrolWindowMs: number;
  #hashes: { worker: string; manager: string };
  #seenJoinKeys = new Set<string>();
  #now: () => number;
  #random: (n: number) => Uint8Array;

  constructor(o: CAOptions) {
    this.clusterId = o.clusterId;
    this.root = o.root;
    this.#hashes = { ...o.joinTokenHashes };
    this.revocations = o.revocations ?? new RevocationList();
    this.nodeCertExpiryMs = o.nodeCertExpiryMs ?? limits.nodeCertExpiryMsDefault;
    this.reenrolWindowMs = o.reenrolWindowMs ?? limits.reenrolWindowMsDefault;
    this.#now = o.now ?? Date.now;
    this.#random = o.randomBytes ?? ((n) => new Uint8Array(nodeRandomBytes(n)));
  }

  /** `fleet init`: a new root CA and both join tokens (shown once; only hashes are kept). */
  static create(o: {
    clusterId: string;
    curve?: Curve;
    now?: () => number;
    randomBytes?: (n: number) => Uint8Array;
  }): { ca: CertificateAuthority; tokens: { worker: string; manager: string } } {
    const random = o.randomBytes ?? ((n: number) => new Uint8Array(nodeRandomBytes(n)));
    const now = o.now ?? Date.now;
    const curve = o.curve ?? "ed25519";
    const key = generateKeyPair(curve, random(keySeedBytes(curve)));
    const serialRandom = random(limits.certSerialBytes);
    const root = createRootCA({ clusterId: o.clusterId, key, serialRandom, nowMs: now() });
    const ca = new CertificateAuthority({
      clusterId: o.clusterId,
      root,
      joinTokenHashes: { worker: "", manager: "" },
      now,
      randomBytes: random,
    });
    return {
      ca,
      tokens: { worker: ca.rotateJoinToken("worker"), manager: ca.rotateJoinToken("manager") },
    };
  }

  get joinTokenHashes(): { worker: string; manager: string } {
    return { ...this.#hashes };
  }

  /** `fleet join-token --rotate <role>`: a new token; the old secret stops working now. */
  rotateJoinToken(role: JoinRole): string {
    const token = formatJoinToken(this.root.digest, this.#random(limits.joinTokenSecretBytes));
    this.#hashes[role] = tokenSecretHash(parseJoinToken(token).secret);
    return token;
  }

  /** A join request on `join/<requestId>/req`; `nodeId` is the id the cluster assigns. */
  join(req: JoinProof, requestId: string, nodeId: string, names: AltNames = {}): JoinResult {
    const token = verifyJoinProof(req, requestId);
    const role = matchJoinToken(token, this.#hashes, this.root.digest);
    const keyHex = toHex(req.publicKey);
    if (this.#seenJoinKeys.has(keyHex))
      throw new CryptoError("replayed", "this public key has already joined (replayed request?)");
    if (this.revocations.isRemoved(nodeId))
      throw new CryptoError("removed", `node id ${nodeId} was removed and cannot be reused`);
    const issued = this.issue(nodeId, role, req.publicKey, role === "manager" ? names : {});
    this.#rememberJoinKey(keyHex);
    return { nodeId, role, ...issued };
  }

  #rememberJoinKey(keyHex: string): void {
    if (this.#seenJoinKeys.size >= limits.joinSeenKeysMax) {
      const oldest = this.#seenJoinKeys.values().next().value;
      if (oldest !== undefined) this.#seenJoinKeys.delete(oldest);
    }
    this.#seenJoinKeys.add(keyHex);
  }

  /**
   * A csr on `n/<sessionNodeId>/csr`. The presented certificate must be ours, name the
   * session's node, not be revoked, and be valid or expired less than the re-enrolment window
   * ago; the current key and the new key must both sign. The new certificate carries the role
   * the store holds now (so a promotion or demotion takes effect at the next renewal).
   */
  renew(
    sessionNodeId: string,
    csr: RenewalProof & { certPem: string },
    node: NodeRecord | undefined,
    names: AltNames = {},
  ): RenewResult {
    const id = this.verifyPeer(csr.certPem, this.reenrolWindowMs);
    if (id.nodeId !== sessionNodeId)
      throw new CryptoError(
        "wrong-identity",
        `certificate of ${id.nodeId} sent by ${sessionNodeId}`,
      );
    if (node === undefined)
      throw new CryptoError("removed", `node ${id.nodeId} is not in the cluster`);
    const subject = { clusterId: this.clusterId, nodeId: id.nodeId, serial: id.serial };
    verifyRenewalProof(csr, subject, id.publicKey);
    const reenrolled = this.#now() > id.notAfterMs;
    const issued = this.issue(
      id.nodeId,
      node.role,
      csr.publicKey,
      node.role === "manager" ? names : {},
    );
    return { ...issued, role: node.role, reenrolled };
  }

  /** Promotion/demotion pushed by the manager: same key, same node, the new role. */
  changeRole(
    currentCertPem: string,
    role: "worker" | "manager",
    names: AltNames = {},
  ): IssuedCertificate {
    const id = this.verifyPeer(currentCertPem);
    return this.issue(id.nodeId, role, id.publicKey, role === "manager" ? names : {});
  }

  /** `fleet ca issue-admin <name>`: an operator certificate (events and state, remote API). */
  issueAdmin(
    name: string,
    publicKey: Uint8Array,
    expiryMs = this.nodeCertExpiryMs,
  ): IssuedCertificate {
    return this.issue(name, "admin", publicKey, {}, expiryMs);
  }

  issue(
    nodeId: string,
    role: Role,
    publicKey: Uint8Array,
    names: AltNames = {},
    expiryMs = this.nodeCertExpiryMs,
  ): IssuedCertificate {
    if (this.revocations.isRemoved(nodeId))
      throw new CryptoError("removed", `node id ${nodeId} was removed and cannot be reused`);
    return issueCertificate({
      ca: this.root,
      clusterId: this.clusterId,
      nodeId,
      role,
      publicKey,
      serialRandom: this.#random(limits.certSerialBytes),
      nowMs: this.#now(),
      expiryMs,
      ...names,
    });
  }

  /** `fleet node rm`: revokes the node's certificates and retires its id for good. */
  removeNode(nodeId: string, certificates: { serial: string; notAfterMs: number }[]): void {
    this.revocations.removeNode(nodeId, certificates, this.#now());
  }

  revoke(serial: string, notAfterMs: number): void {
    this.revocations.revoke(serial, notAfterMs, this.#now());
  }

  /**
   * The revocation list as a signed CRL for brokers that check through OpenSSL (mosquitto's
   * crlfile). Valid for `validMs`; regenerate on every revocation and well before it lapses.
   */
  crlPem(validMs = limits.crlValidityMsDefault): string {
    const now = this.#now();
    return buildCrl({
      ca: this.root,
      revoked: this.revocations.entries(),
      thisUpdateMs: now - limits.certBackdateMs,
      nextUpdateMs: now + validMs,
      crlNumber: Math.floor(now / 1000),
    });
  }

  /** The check a TLS verification hook or the broker runs on a presented client certificate. */
  verifyPeer(cert: string | Uint8Array, expiredGraceMs = 0): Identity {
    return verifyIdentity(cert, this.root.cert, {
      nowMs: this.#now(),
      expiredGraceMs,
      isRevoked: (serial, nodeId) => this.revocations.isRevoked(serial, nodeId),
    });
  }
}
