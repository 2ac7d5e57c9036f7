// The leader's CA over MQTT: answers join requests on `fleet/<cid>/join/<req>/req`. The CA
// (root key, token hashes, revocations) is read from the store's cluster object, so any leader
// answers alike; the replay memory (hashes of the public keys that joined) is in the store too.
// A manager joining is recorded as a Node and added to Raft as a learner (the membership
// reconciler promotes it to voter once it has registered). A bad request gets a typed error
// response on `join/<req>/resp` and changes nothing.

import { createHash } from "node:crypto";
import { decodeMessage, encodeMessage, type MessageBodies } from "../../core/codec/messages.ts";
import { CryptoError } from "../../core/crypto/errors.ts";
import { verifyJoinProof } from "../../core/crypto/proof.ts";
import { matchJoinToken } from "../../core/crypto/token.ts";
import { limits } from "../../core/limits.ts";
import type { Cluster, Node } from "../../core/model/types.ts";
import type { Store } from "../../core/store/store.ts";
import type { StoreWriter } from "../../core/store/writer.ts";
import { isTopicId, type Topics, topics } from "../../core/topics.ts";
import type { Bus, Subscription } from "../dispatcher/bus.ts";
import type { Logger } from "../log.ts";
import type { AltNames, CertificateAuthority } from "./ca.ts";
import { CaKeeper } from "./lifecycle.ts";
import { reenrolByJoin } from "./reenrol-join.ts";

export interface JoinMember {
  raftId: number;
  host: string;
  port: number;
}

export interface JoinServiceDeps {
  store: Store;
  writer: StoreWriter;
  bus: Bus;
  clusterId: string;
  /** Adds a joining manager to Raft as a learner (leader only); resolves once applied. */
  addLearner(raftId: number, addr: { host: string; port: number }): Promise<void>;
  /** The Raft members now, with their addresses (for a joining manager's first start). */
  members(): JoinMember[];
  newId(): string;
  newRaftId(): number;
  now?: () => number;
  /** --insecure only: also answer on this cluster level (a plain-MQTT joiner knows no id). */
  insecureLevel?: string;
  /** The CA as the manager holds it (unsealed after `fleet unlock`); else the store's (a
   * sealed key then refuses joins as locked). */
  ca?: () => CertificateAuthority | undefined;
  /** External broker mode: the brokers every node uses (the broker's certificate listener),
   * named instead of the managers' embedded ones and marked as the whole list. */
  brokers?: () => string[];
  log: Logger;
}

type Request = MessageBodies["joinRequest"];
type Response = MessageBodies["joinResponse"];

/** Requests waiting for the CA; past this a request is told to retry (bounded memory). */
const QUEUE_MAX = 256;

export class JoinService {
  readonly #d: JoinServiceDeps;
  #subs: Subscription[] = [];
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  readonly #keeper: CaKeeper;
  #stopped = false;

  constructor(d: JoinServiceDeps) {
    this.#d = d;
    this.#keeper = new CaKeeper(d.clusterId);
  }

  async start(): Promise<void> {
    const levels = [this.#d.clusterId, ...(this.#d.insecureLevel ? [this.#d.insecureLevel] : [])];
    for (const level of levels) {
      const t = topics(level);
      this.#subs.push(
        await this.#d.bus.subscribe(t.joinRequestFilter, (topic, payload) =>
          this.#enqueue(t, topic, payload),
        ),
      );
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const sub of this.#subs) await sub.unsubscribe().catch(() => {});
    await this.#queue;
  }

  #enqueue(t: Topics, topic: string, payload: Uint8Array): void {
    const reqId = topic.split("/")[3] ?? "";
    if (!isTopicId(reqId)) return; // no valid place to answer
    const respond = (r: Response) => this.#respond(t, reqId, r);
    if (this.#queued >= QUEUE_MAX) {
      void respond({ ok: false, error: "the CA is busy: retry", code: "busy", retry: true });
      return;
    }
    this.#queued++;
    // One at a time: Raft takes one membership change at a time, and the replay check reads
    // what the previous join wrote.
    this.#queue = this.#queue
      .then(() => this.#handle(reqId, payload, respond))
      .catch((err: Error) => this.#d.log.error("join handling failed", { err: err.message }))
      .finally(() => {
        this.#queued--;
      });
  }

  async #handle(
    reqId: string,
    payload: Uint8Array,
    respond: (r: Response) => Promise<void>,
  ): Promise<void> {
    if (this.#stopped) return;
    // A csr here is a node re-enrolling after expiry through a broker that refuses its expired
    // certificate (reenrol-join.ts); its old certificate and key stand in for a token.
    const csr = decodeMessage(payload, "csr");
    if (csr.ok) return this.#reenrol(reqId, csr.message, respond);
    const decoded = decodeMessage(payload, "joinRequest");
    if (!decoded.ok) {
      this.#d.log.info("join refused", { req: reqId, err: decoded.error.message });
      return respond({
        ok: false,
        error: `bad join request: ${decoded.error.message}`.slice(0, 1000),
        code: "bad-request",
      });
    }
    try {
      const r = await this.#join(reqId, decoded.message);
      this.#d.log.info("node joined", { req: reqId, node: r.nodeId, role: r.role });
      await respond(r);
    } catch (err) {
      const e = err as Error;
      const retry = !(err instanceof CryptoError || err instanceof JoinRefused);
      const code = err instanceof CryptoError ? err.code : retry ? "unavailable" : "refused";
      this.#d.log.info("join refused", { req: reqId, code, err: e.message });
      await respond({ ok: false, error: e.message.slice(0, 1000), code, retry });
    }
  }

  async #reenrol(
    reqId: string,
    csr: MessageBodies["csr"],
    respond: (r: Response) => Promise<void>,
  ): Promise<void> {
    try {
      const cluster = this.#d.store.view((tx) => tx.get("clusters", this.#d.clusterId));
      const r = await reenrolByJoin(this.#d, this.#caFor(cluster), csr);
      this.#d.log.info("node re-enrolled", { req: reqId, node: r.nodeId, serial: r.serial });
      await respond(r.response);
    } catch (err) {
      const code = err instanceof CryptoError ? err.code : "refused";
      this.#d.log.info("re-enrolment refused", { req: reqId, code, err: (err as Error).message });
      await respond({ ok: false, error: (err as Error).message.slice(0, 1000), code });
    }
  }

  async #join(reqId: string, req: Request): Promise<Response> {
    const d = this.#d;
    const cluster = d.store.view((tx) => tx.get("clusters", d.clusterId));
    const ca = this.#caFor(cluster);
    const keyHash = keyHashOf(req.publicKey);
    if (cluster?.joinedKeys?.includes(keyHash))
      throw new CryptoError("replayed", "this public key has already joined (replayed request?)");
    const nodeId = d.newId();
    const names = req.manager ? altNames([req.manager.raftAddr, req.manager.brokerAddr]) : {};
    // The token's role first: a manager must not leave with a worker certificate.
    const role = matchJoinToken(verifyJoinProof(req, reqId), ca.joinTokenHashes, ca.root.digest);
    if (role === "worker" && req.manager)
      throw new CryptoError(
        "wrong-token",
        "this is a worker join token: a manager joins with `fleet join-token manager`'s token",
      );
    if (role === "manager" && !req.manager)
      throw new JoinRefused("a manager token was sent without the manager's addresses");
    // Verifies the proof and the token (again) and issues; nothing is written before.
    const issued = ca.join(req, reqId, nodeId, names);
    const now = d.now?.() ?? Date.now();
    const raftId = issued.role === "manager" ? d.newRaftId() : undefined;
    await d.writer.update((tx) => {
      const cur = tx.get("clusters", d.clusterId);
      if (!cur) throw new JoinRefused("the cluster object is missing");
      const keys = cur.joinedKeys ?? [];
      if (keys.includes(keyHash))
        throw new CryptoError("replayed", "this public key has already joined (replayed request?)");
      const joinedKeys = [...keys, keyHash].slice(-limits.joinedKeysStoredMax);
      tx.update("clusters", { ...cur, joinedKeys, updatedAt: now });
      if (raftId !== undefined && req.manager) {
        tx.create("nodes", joinedManager(nodeId, raftId, req, issued, now));
      } else {
        // A worker's Node exists from its join ("unknown" until its hello) with the serial,
        // so `fleet node rm` revokes that certificate everywhere, also in the CRL an external
        // broker checks, even before its first renewal.
        tx.create("nodes", joinedWorker(nodeId, req, issued, now));
      }
    });
    const base: Response = {
      ok: true,
      nodeId,
      role: issued.role,
      certPem: issued.certPem,
      caPem: ca.root.certPem,
      clusterId: d.clusterId,
      ...this.#brokers(),
    };
    if (raftId === undefined || !req.manager) return base;
    const addr = hostPort(req.manager.raftAddr);
    try {
      await d.addLearner(raftId, addr);
    } catch (err) {
      // Not a member after all: drop its Node so a retry (a new key, a new id) leaves no orphan.
      await d.writer
        .update((tx) => {
          if (tx.get("nodes", nodeId)) tx.delete("nodes", nodeId);
        })
        .catch(() => {});
      throw err;
    }
    const members = d.members().filter((m) => m.raftId !== raftId);
    return { ...base, raftId, members: [...members, { raftId, ...addr }] };
  }

  /** The CA the manager holds (unsealed after `fleet unlock`), else the store's as a keeper
   * of this service loads it. */
  #caFor(cluster: Cluster | undefined): CertificateAuthority {
    const root = cluster?.rootCA;
    if (!cluster || !root || !cluster.joinTokens)
      throw new JoinRefused("this cluster has no certificate authority (started with --insecure?)");
    const ca = this.#d.ca ? this.#d.ca() : this.#keeper.ca(cluster);
    if (ca) return ca;
    throw new JoinRefused("the cluster's CA is locked: run `fleet unlock`");
  }

  #brokers(): Pick<Response, "brokers" | "brokersOnly"> {
    if (this.#d.brokers) return { brokers: this.#d.brokers().slice(0, 64), brokersOnly: true };
    return { brokers: this.#managerBrokers() };
  }

  #managerBrokers(): string[] {
    const managers = this.#d.store.view((tx) => tx.find("nodes"));
    const out: string[] = [];
    for (const n of managers)
      if (n.spec.role === "manager" && n.managerStatus?.brokerAddr)
        out.push(`mqtts://${n.managerStatus.brokerAddr}`);
    return out.slice(0, 64);
  }

  async #respond(t: Topics, reqId: string, r: Response): Promise<void> {
    try {
      await this.#d.bus.publish(t.joinResponse(reqId), encodeMessage("joinResponse", r), {
        qos: 1,
        retain: false,
      });
    } catch (err) {
      this.#d.log.info("join response not sent", { req: reqId, err: (err as Error).message });
    }
  }
}

/** A join refused for a reason that retrying will not fix. */
export class JoinRefused extends Error {}

export function keyHashOf(publicKey: Uint8Array): string {
  return createHash("sha256").update(publicKey).digest("hex");
}

export function hostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(":");
  const port = Number(addr.slice(i + 1));
  const host = addr.slice(0, i);
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new JoinRefused(`${JSON.stringify(addr)} is not HOST:PORT`);
  return { host, port };
}

function altNames(addrs: string[]): AltNames {
  const ips = new Set<string>();
  const dns = new Set<string>();
  for (const a of addrs) {
    const { host } = hostPort(a);
    if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":")) ips.add(host);
    else dns.add(host);
  }
  return { ipAddresses: [...ips], dnsNames: [...dns] };
}

function joinedWorker(
  nodeId: string,
  req: Request,
  issued: { serial: string; notAfterMs: number },
  now: number,
): Node {
  return {
    id: nodeId,
    version: 0,
    createdAt: now,
    updatedAt: now,
    description: { ...req.description, engineLabels: { ...req.description.engineLabels } },
    spec: { role: "worker", availability: "active", labels: {} },
    status: { state: "unknown", message: "joined; not connected yet", lastSeen: now },
    certificate: { serial: issued.serial, notAfter: issued.notAfterMs },
  };
}

function joinedManager(
  nodeId: string,
  raftId: number,
  req: Request,
  issued: { serial: string; notAfterMs: number },
  now: number,
): Node {
  const m = req.manager!;
  return {
    id: nodeId,
    version: 0,
    createdAt: now,
    updatedAt: now,
    description: { ...req.description, engineLabels: { ...req.description.engineLabels } },
    spec: { role: "manager", availability: "drain", labels: {} },
    // "unknown" until the manager itself registers; the reconciler then makes it a voter.
    status: { state: "unknown", addr: hostPort(m.raftAddr).host, lastSeen: now },
    certificate: { serial: issued.serial, notAfter: issued.notAfterMs },
    managerStatus: {
      raftId: String(raftId),
      addr: m.raftAddr,
      brokerAddr: m.brokerAddr,
      reachability: "unknown",
      leader: false,
    },
  };
}
