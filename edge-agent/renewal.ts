// The agent's certificate renewal (DESIGN §7). At a random point between 50% and 80% of the
// certificate's lifetime it makes a new key, sends a csr (signed by the current and the new
// key) on `n/<id>/csr`, and on the answer on `n/<id>/cert` checks the certificate (issued by the
// pinned root for this node, for the new key), writes key and certificate atomically
// (<data-dir>/certs/node.key, node.pem) and hands the new material to the session, which
// reconnects with it at once. Containers are never touched. A certificate expired less than the
// re-enrolment window ago is renewed the same way (the old key proves possession) over a
// restricted broker session (the session's `reenrolling` mode: csr and cert topics only; the
// broker admits nothing else with such a certificate); past the window the node must join again
// with a token (assertRenewable: a JoinError "expired" at start).

import { unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { decodeMessage, encodeMessage } from "../core/codec/index.ts";
import { renewalState, renewalTimeMs } from "../core/crypto/renewal.ts";
import { limits } from "../core/limits.ts";
import { topics } from "../core/topics.ts";
import { certFacts } from "./cert-facts.ts";
import { JoinError } from "./join/errors.ts";
import {
  type CsrAnswer,
  inProcessCrypto,
  loadRenewalOps,
  type RenewalCrypto,
  readyCrypto,
} from "./renewal-crypto.ts";
import type { NodeMaterial, RenewalOptions } from "./renewal-files.ts";
import { atomicWrite } from "./state/state.ts";

export { loadRenewalOps, setRenewalCrypto } from "./renewal-crypto.ts";
export {
  CERTS_DIR,
  type CertPaths,
  certPaths,
  loadMaterial,
  loadReenrolWindow,
  type NodeMaterial,
  REENROL_WINDOW_FILE,
  type RenewalLink,
  type RenewalOptions,
} from "./renewal-files.ts";

/** Longest single timer (setTimeout's bound); longer waits re-arm. */
const TIMER_MAX_MS = 2 ** 31 - 1;
/** A new connection sends a due csr at once unless one went out this recently (the CA answers
 * a node at most once per 10 s: manager/ca/renewal-service.ts). */
const RESEND_AFTER_MS = 10_000;

export class CertificateRenewal {
  readonly #o: RenewalOptions;
  #material: NodeMaterial;
  #crypto: RenewalCrypto | undefined;
  #serial = "";
  #notAfterMs = 0;
  #renewAtMs = 0;
  /** The new key of the csr sent (PEM). */
  #pending: string | undefined;
  #building = false;
  #checking = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #sentAtMs = Number.NEGATIVE_INFINITY;
  #windowMs: number;
  readonly stats = { sent: 0, renewed: 0, badAnswers: 0 };

  constructor(o: RenewalOptions, material: NodeMaterial) {
    this.#o = o;
    this.#windowMs = o.reenrolWindowMs ?? limits.reenrolWindowMsDefault;
    this.#material = material;
    this.#crypto = o.crypto;
    this.#adopt(material.certPem);
  }

  get material(): NodeMaterial {
    return this.#material;
  }

  get renewAtMs(): number {
    return this.#renewAtMs;
  }

  get notAfterMs(): number {
    return this.#notAfterMs;
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  #state() {
    return renewalState(this.#now(), this.#renewAtMs, this.#notAfterMs, this.#windowMs);
  }

  /** How long after expiry this node may still re-enrol (the cluster's, as last learned). */
  get reenrolWindowMs(): number {
    return this.#windowMs;
  }

  /**
   * The cluster's window from an assignment (`fleet cluster update --reenrol-window`): used
   * from now on and kept in windowFile when it changed, so that a node offline past expiry
   * knows after a restart when to stop waiting and ask to be joined again.
   */
  setReenrolWindow(ms: number): void {
    if (!(Number.isSafeInteger(ms) && ms >= 0) || ms === this.#windowMs) return;
    this.#windowMs = ms;
    this.#o.log?.(`renewal: the cluster's re-enrolment window is ${Math.round(ms / 3_600_000)} h`);
    if (!this.#o.windowFile) return;
    try {
      atomicWrite(this.#o.windowFile, Buffer.from(`${JSON.stringify({ reenrolWindowMs: ms })}\n`));
    } catch (err) {
      this.#o.log?.(`renewal: re-enrolment window not saved: ${(err as Error).message}`);
    }
  }

  /** The certificate expired less than the window ago: connect only to re-enrol. */
  reenrolling(): boolean {
    return this.#state() === "expired-reenrol";
  }

  /**
   * Throws a JoinError (code "expired") when the certificate expired more than the re-enrolment
   * window ago: the cluster will not renew it, the node must join again with a token.
   */
  assertRenewable(): void {
    if (this.#state() !== "expired-rejoin") return;
    const window = this.#windowMs;
    const certs = dirname(this.#o.paths.cert);
    throw new JoinError(
      "expired",
      `the certificate of node ${this.#o.nodeId} expired ${new Date(this.#notAfterMs).toISOString()}, ` +
        `more than the re-enrolment window (${Math.round(window / 3_600_000)} h) ago: the cluster ` +
        `will not renew it. Remove ${certs} and join again with a token ` +
        "(edge-agent join --token TOKEN --data-dir DIR MANAGER; fleet join-token worker prints one)",
    );
  }

  /**
   * The session's connection is up and subscribed: a due csr goes out now rather than at the
   * next retry (a node back after expiry re-enrols at once).
   */
  onReady(): void {
    const state = this.#state();
    if (state !== "renew" && state !== "expired-reenrol") return;
    if (this.#now() - this.#sentAtMs < RESEND_AFTER_MS) return;
    this.#arm(0);
  }

  #adopt(certPem: string): void {
    const c = certFacts(certPem);
    this.#serial = c.serial;
    this.#notAfterMs = c.notAfterMs;
    this.#renewAtMs = renewalTimeMs(c.notBeforeMs, c.notAfterMs, (this.#o.random ?? Math.random)());
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#arm(this.#renewAtMs - this.#now());
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Renew now (an operator's request, or a test), whatever the schedule says. */
  renewNow(): void {
    this.#renewAtMs = Math.min(this.#renewAtMs, this.#now());
    this.#arm(0);
  }

  #arm(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#tick(), Math.min(Math.max(0, delayMs), TIMER_MAX_MS));
  }

  #tick(): void {
    const now = this.#now();
    const state = this.#state();
    if (state === "valid") {
      this.#arm(this.#renewAtMs - now);
      return;
    }
    if (state === "expired-rejoin") {
      this.#o.log?.(
        `renewal: certificate expired ${Math.round((now - this.#notAfterMs) / 1000)} s ago, ` +
          "past the re-enrolment window: join again with a token (fleet join)",
      );
      return;
    }
    this.#crypto ??= readyCrypto();
    if (this.#crypto) this.#send(this.#crypto);
    else
      loadRenewalOps().then(
        (o) => {
          this.#crypto ??= inProcessCrypto(o);
          if (!this.#stopped) this.#send(this.#crypto);
        },
        (err: Error) => this.#o.log?.(`renewal: cannot load the certificate code: ${err.message}`),
      );
    const retry = this.#o.retryMs ?? 30_000;
    this.#arm(retry * (0.5 + (this.#o.random ?? Math.random)()));
  }

  #send(c: RenewalCrypto): void {
    if (this.#building) return;
    const m = this.#material;
    const req = {
      clusterId: this.#o.clusterId,
      nodeId: this.#o.nodeId,
      serial: this.#serial,
      keyPem: m.keyPem,
      certPem: m.certPem,
      // One new key per renewal, reused by retries, so a late answer to an earlier attempt fits.
      ...(this.#pending ? { nextKeyPem: this.#pending } : {}),
      ...(this.#o.randomBytes ? { randomBytes: this.#o.randomBytes } : {}),
    };
    const failed = (err: unknown) =>
      this.#o.log?.(`renewal: csr not built (retried later): ${(err as Error).message}`);
    let a: CsrAnswer | Promise<CsrAnswer>;
    try {
      a = c.csr(req);
    } catch (err) {
      failed(err);
      return;
    }
    if (!(a instanceof Promise)) {
      this.#publish(a);
      return;
    }
    this.#building = true;
    a.then(
      (v) => {
        this.#building = false;
        // A certificate installed meanwhile makes this csr stale.
        if (!this.#stopped && m === this.#material) this.#publish(v);
      },
      (err) => {
        this.#building = false;
        failed(err);
      },
    );
  }

  #publish({ body, nextKeyPem: next }: CsrAnswer): void {
    if (this.#o.link.publish(topics(this.#o.clusterId).csr(this.#o.nodeId), body, 1)) {
      this.#pending = next;
      this.#sentAtMs = this.#now();
      this.stats.sent++;
      this.#o.log?.(`renewal: csr sent (certificate ${this.#serial})`);
    } else if (this.#state() !== "expired-reenrol") {
      // Offline before expiry: the retry timer sends it once a session is up.
    } else if (this.#o.joinBrokers?.length) {
      this.#pending = next;
      void this.#viaJoin(body);
    } else if (!this.#hinted) {
      this.#hinted = true;
      this.#o.log?.(
        `renewal: certificate ${this.#serial} expired ${new Date(this.#notAfterMs).toISOString()}; ` +
          "re-enrolling once a broker admits the session (an external broker refuses an expired " +
          "certificate: give its join listener with --join-broker)",
      );
    }
  }

  #hinted = false;

  #joining = false;

  /** The csr through a join listener, each in turn; the answer is checked like any other. */
  async #viaJoin(csr: Uint8Array): Promise<void> {
    if (this.#joining) return;
    this.#joining = true;
    try {
      const { reenrolOverJoin } = await import("./join/reenrol.ts");
      for (const url of this.#o.joinBrokers ?? []) {
        if (this.#stopped) return;
        try {
          const caPem = this.#material.caPem;
          const certPem = await reenrolOverJoin({ url, caPem, csr });
          this.stats.sent++;
          this.#o.log?.(`renewal: re-enrolled through the join listener ${url}`);
          this.onCert(encodeMessage("cert", { certPem, caPem }));
          return;
        } catch (err) {
          this.#o.log?.(`renewal: re-enrolment through ${url}: ${(err as Error).message}`);
        }
      }
    } finally {
      this.#joining = false;
    }
  }

  /**
   * A message on `n/<id>/cert`; true when installed. Bad answers are counted and dropped. With
   * a crypto that answers later (a child process) the check runs in the background and this
   * returns false: onRenewed reports the install.
   */
  onCert(payload: Uint8Array): boolean {
    const d = decodeMessage(payload, "cert");
    const pending = this.#pending;
    const c = this.#crypto;
    if (!d.ok || !pending || !c) return this.#bad(d.ok ? "no renewal pending" : d.error.message);
    if (this.#checking) return this.#bad("another answer is being checked");
    const certPem = d.message.certPem;
    const req = {
      caPem: this.#material.caPem,
      certPem,
      nodeId: this.#o.nodeId,
      nextKeyPem: pending,
      nowMs: this.#now(),
    };
    let checked: void | Promise<void>;
    try {
      checked = c.check(req);
    } catch (err) {
      return this.#bad((err as Error).message);
    }
    if (!(checked instanceof Promise)) {
      this.#install(certPem, pending);
      return true;
    }
    this.#checking = true;
    checked.then(
      () => {
        this.#checking = false;
        if (this.#pending === pending && !this.#stopped) this.#install(certPem, pending);
      },
      (err: Error) => {
        this.#checking = false;
        this.#bad(err.message);
      },
    );
    return false;
  }

  #bad(why: string): false {
    this.stats.badAnswers++;
    this.#o.log?.(`renewal: answer dropped: ${why}`);
    return false;
  }

  #install(certPem: string, keyPem: string): void {
    const p = this.#o.paths;
    // Old key aside, new key, new certificate, old key gone: a crash at any point leaves a
    // key that matches node.pem (loadMaterial picks it).
    atomicWrite(p.prevKey, Buffer.from(this.#material.keyPem));
    atomicWrite(p.key, Buffer.from(keyPem));
    atomicWrite(p.cert, Buffer.from(certPem));
    unlinkSync(p.prevKey);
    this.#material = { ...this.#material, certPem, keyPem };
    this.#pending = undefined;
    this.#adopt(certPem);
    this.stats.renewed++;
    this.#o.log?.(
      `renewal: new certificate ${this.#serial} until ${new Date(this.#notAfterMs).toISOString()}`,
    );
    this.#o.link.updateTls({ cert: certPem, key: keyPem, ca: this.#material.caPem });
    this.#o.onRenewed?.({ serial: this.#serial, notAfterMs: this.#notAfterMs });
    this.#arm(this.#renewAtMs - this.#now());
  }
}
