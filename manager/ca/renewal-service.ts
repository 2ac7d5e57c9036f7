// The leader's side of certificate renewal (DESIGN §7): answers `n/<id>/csr` with `n/<id>/cert`.
// The topic names the node (the broker lets only that node's certificate publish there); the CA
// checks the presented certificate, both proofs and the re-enrolment window, and issues with
// the role the store holds now. Refusals (revoked, removed, past the window, bad proofs, garbage)
// are logged and counted and get no answer; one node's bad request costs only that request.
// Each node is answered at most once per `minIntervalMs`, so a looping device costs one
// signature check per interval, not per message.

import { decodeMessage, encodeMessage } from "../../core/codec/index.ts";
import { CryptoError } from "../../core/crypto/errors.ts";
import type { Store } from "../../core/store/store.ts";
import type { StoreWriter } from "../../core/store/writer.ts";
import { parseNodeTopic, type Topics, topics as topicsFor } from "../../core/topics.ts";
import type { Bus, Subscription } from "../dispatcher/bus.ts";
import type { Logger } from "../log.ts";
import type { AltNames, CertificateAuthority, NodeRecord } from "./ca.ts";

export interface IssuedRecord {
  nodeId: string;
  serial: string;
  notAfterMs: number;
  reenrolled: boolean;
}

export interface RenewalServiceOptions {
  bus: Bus;
  clusterId: string;
  /** The CA as loaded from the store now; undefined while it is locked (autolock) or absent. */
  ca: () => CertificateAuthority | undefined;
  /** The store's node: its role; undefined when the node is unknown or was removed. */
  node: (nodeId: string) => NodeRecord | undefined;
  /** Subject alternative names for a manager's certificate. */
  names?: (nodeId: string) => AltNames;
  /** Records the new certificate (serial, notAfter) on the store's Node; errors are logged. */
  record?: (issued: IssuedRecord) => Promise<void>;
  log?: Logger;
  now?: () => number;
  /** One answer per node per interval (default 10 s). */
  minIntervalMs?: number;
  /** Nodes remembered for the interval check (oldest forgotten first). */
  rememberMax?: number;
}

export interface RenewalStats {
  received: number;
  issued: number;
  reenrolled: number;
  refused: Record<string, number>;
}

const MIN_INTERVAL_MS_DEFAULT = 10_000;
const REMEMBER_MAX_DEFAULT = 100_000;

export class RenewalService {
  readonly #o: RenewalServiceOptions;
  readonly #t: Topics;
  readonly #last = new Map<string, number>();
  #sub: Subscription | undefined;
  readonly stats: RenewalStats = { received: 0, issued: 0, reenrolled: 0, refused: {} };

  constructor(o: RenewalServiceOptions) {
    this.#o = o;
    this.#t = topicsFor(o.clusterId);
  }

  async start(): Promise<void> {
    if (this.#sub) return;
    this.#sub = await this.#o.bus.subscribe(`${this.#t.root}/n/+/csr`, (topic, payload) =>
      this.handle(topic, payload),
    );
  }

  async stop(): Promise<void> {
    const s = this.#sub;
    this.#sub = undefined;
    await s?.unsubscribe().catch(() => {});
  }

  #refuse(code: string, nodeId: string, message: string): false {
    this.stats.refused[code] = (this.stats.refused[code] ?? 0) + 1;
    this.#o.log?.warn("renewal refused", { node: nodeId, code, err: message });
    return false;
  }

  /** One csr message; true when a certificate was issued. Never throws. */
  handle(topic: string, payload: Uint8Array): boolean {
    this.stats.received++;
    const t = parseNodeTopic(topic);
    if (t?.kind !== "csr" || t.clusterId !== this.#o.clusterId) return false;
    const nodeId = t.nodeId;
    const now = (this.#o.now ?? Date.now)();
    const last = this.#last.get(nodeId);
    if (last !== undefined && now - last < (this.#o.minIntervalMs ?? MIN_INTERVAL_MS_DEFAULT))
      return this.#refuse("too-often", nodeId, "another csr within the minimum interval");
    const d = decodeMessage(payload, "csr");
    if (!d.ok) return this.#refuse("bad-message", nodeId, d.error.message);
    const ca = this.#o.ca();
    if (!ca) return this.#refuse("locked", nodeId, "the CA is locked or not loaded");
    this.#remember(nodeId, now);
    let issued: ReturnType<CertificateAuthority["renew"]>;
    try {
      const names = this.#o.names?.(nodeId) ?? {};
      issued = ca.renew(nodeId, d.message, this.#o.node(nodeId), names);
    } catch (err) {
      if (err instanceof CryptoError) return this.#refuse(err.code, nodeId, err.message);
      return this.#refuse("error", nodeId, (err as Error).message);
    }
    this.stats.issued++;
    if (issued.reenrolled) this.stats.reenrolled++;
    const body = encodeMessage("cert", { certPem: issued.certPem, caPem: ca.root.certPem });
    this.#o.bus
      .publish(this.#t.cert(nodeId), body, { qos: 1, retain: false })
      .catch((err: Error) =>
        this.#o.log?.warn("cert not sent", { node: nodeId, err: err.message }),
      );
    this.#o.log?.info(issued.reenrolled ? "node re-enrolled" : "certificate renewed", {
      node: nodeId,
      serial: issued.serial,
      role: issued.role,
    });
    const rec = { nodeId, serial: issued.serial, notAfterMs: issued.notAfterMs };
    this.#o
      .record?.({ ...rec, reenrolled: issued.reenrolled })
      .catch((err: Error) =>
        this.#o.log?.warn("certificate not recorded", { node: nodeId, err: err.message }),
      );
    return true;
  }

  #remember(nodeId: string, now: number): void {
    this.#last.delete(nodeId);
    if (this.#last.size >= (this.#o.rememberMax ?? REMEMBER_MAX_DEFAULT)) {
      const oldest = this.#last.keys().next().value;
      if (oldest !== undefined) this.#last.delete(oldest);
    }
    this.#last.set(nodeId, now);
  }
}

/**
 * The RenewalService as the leader runs it: nodes and their roles from the store (a removed
 * node is absent), managers' names from their advertised addresses, and every new certificate
 * recorded on the node (serial and notAfter: what `fleet node rm` revokes).
 */
export function storeRenewalService(d: {
  bus: Bus;
  store: Store;
  writer: StoreWriter;
  clusterId: string;
  ca: () => CertificateAuthority | undefined;
  log?: Logger;
}): RenewalService {
  const node = (id: string) => d.store.view((tx) => tx.get("nodes", id));
  return new RenewalService({
    bus: d.bus,
    clusterId: d.clusterId,
    ca: d.ca,
    node: (id) => {
      const n = node(id);
      return n ? { role: n.spec.role } : undefined;
    },
    names: (id) => {
      const ms = node(id)?.managerStatus;
      const hosts = [ms?.addr, ms?.brokerAddr].flatMap((a) =>
        a ? [a.slice(0, Math.max(0, a.lastIndexOf(":"))).replace(/^\[|\]$/g, "")] : [],
      );
      const ip = (h: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(":");
      const uniq = (xs: string[]) => [...new Set(xs.filter((h) => h !== ""))];
      return { ipAddresses: uniq(hosts.filter(ip)), dnsNames: uniq(hosts.filter((h) => !ip(h))) };
    },
    record: async (r) => {
      await d.writer.update((tx) => {
        const n = tx.get("nodes", r.nodeId);
        if (!n) return;
        const certificate = { serial: r.serial, notAfter: r.notAfterMs };
        tx.update("nodes", { ...n, certificate, updatedAt: Date.now() });
      });
    },
    ...(d.log ? { log: d.log } : {}),
  });
}
