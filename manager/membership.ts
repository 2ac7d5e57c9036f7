// The leader keeps Raft membership in line with the managers recorded in the store:
//  - a joined manager (a learner) becomes a voter once it has registered itself ("ready") and
//    its log has caught up with the leader's;
//  - a manager demoted (`fleet node demote`, `fleet leave`) is removed from the group, unless
//    that would leave the remaining voters without a quorum of live members; its node then
//    loses its managerStatus.
//  - the leader demoted itself hands leadership over first.
//  - certificates follow the role (manager/ca/role-reissue.ts): a demoted manager is removed
//    once its worker certificate is recorded (or after a bounded grace), and the write that
//    clears its managerStatus revokes its manager certificate; a promoted member's superseded
//    certificates are revoked once its manager certificate is recorded.
//  - each manager's `reachability` in the store follows the leader's view of its Raft progress
//    (so `fleet node ls` shows a dead manager as unreachable, and a demotion that would lose
//    quorum can be refused by any manager's API).
// One change at a time (Raft's rule); re-checked on every store change and every second.

import type { ConfChange, ConfState } from "../core/raft/types.ts";
import type { Store } from "../core/store/store.ts";
import type { StoreWriter } from "../core/store/writer.ts";
import {
  DEMOTION_CERT_GRACE_MS,
  revokedOnLeave,
  revokeSerialsInTx,
  supersededDue,
  withoutSuperseded,
  workerCertificateRecorded,
} from "./ca/role-reissue.ts";
import type { Logger } from "./log.ts";

export interface MembershipDeps {
  store: Store;
  writer: StoreWriter;
  selfRaftId: number;
  /** The membership in force and, per member, its log match and recent activity (leader). */
  status(): {
    conf: ConfState;
    lastIndex: number;
    progress?: Map<number, { match: number; recentActive: boolean }>;
  };
  change(cc: ConfChange): Promise<void>;
  transfer(to: number): void;
  log: Logger;
  /** How long a demoted manager's worker certificate is waited for (tests shorten it). */
  certGraceMs?: number;
}

/** A learner within this many entries of the leader's log counts as caught up. */
const CATCH_UP_ENTRIES = 64;

export type MembershipStep =
  | { kind: "promote"; raftId: number }
  | { kind: "remove"; raftId: number; nodeId: string }
  | { kind: "refuse"; raftId: number; why: string }
  | { kind: "clear"; nodeId: string }
  | { kind: "revoke"; nodeId: string }
  | { kind: "transfer"; to: number };

/** The next change to make, if any (pure: tested without Raft). */
export function nextMembershipStep(
  nodes: readonly {
    id: string;
    spec: { role: string };
    status: { state: string };
    managerStatus?: { raftId: string };
    certificate?: { serial: string; notAfter: number };
  }[],
  s: ReturnType<MembershipDeps["status"]>,
  self: number,
  /** True once a demoted member's worker certificate is no longer waited for. */
  certGraceOver: (nodeId: string) => boolean = () => true,
  /** Raft ids this leader removed: cleared even if promoted back meanwhile (too late). */
  removed: ReadonlySet<number> = new Set(),
): MembershipStep | undefined {
  const byRaft = new Map<number, (typeof nodes)[number]>();
  for (const n of nodes) if (n.managerStatus) byRaft.set(Number(n.managerStatus.raftId), n);
  const members = new Set([...s.conf.voters, ...s.conf.learners]);
  for (const [raftId, n] of byRaft) {
    if (members.has(raftId) || (n.spec.role === "manager" && !removed.has(raftId))) continue;
    return { kind: "clear", nodeId: n.id }; // demoted and already out of the group
  }
  for (const n of nodes) if (supersededDue(n).length > 0) return { kind: "revoke", nodeId: n.id };
  for (const id of [...s.conf.voters, ...s.conf.learners]) {
    const n = byRaft.get(id);
    if (n?.spec.role !== "worker" || id === self) continue;
    // Its worker certificate first (it keeps presenting the manager one until it is out).
    if (!workerCertificateRecorded(n) && !certGraceOver(n.id)) continue;
    if (s.conf.learners.includes(id)) return { kind: "remove", raftId: id, nodeId: n.id };
    const rest = s.conf.voters.filter((v) => v !== id);
    const live = rest.filter((v) => v === self || s.progress?.get(v)?.recentActive).length;
    if (live < Math.floor(rest.length / 2) + 1)
      return {
        kind: "refuse",
        raftId: id,
        why: `removing it would leave ${live} of ${rest.length} managers reachable (no quorum)`,
      };
    return { kind: "remove", raftId: id, nodeId: n.id };
  }
  // The leader itself demoted: hand leadership to a live voter, which then removes it.
  if (byRaft.get(self)?.spec.role === "worker") {
    const to = s.conf.voters.find(
      (v) =>
        v !== self && byRaft.get(v)?.spec.role === "manager" && s.progress?.get(v)?.recentActive,
    );
    if (to !== undefined) return { kind: "transfer", to };
  }
  for (const id of s.conf.learners) {
    const n = byRaft.get(id);
    if (n?.spec.role !== "manager" || n.status.state !== "ready") continue;
    const match = s.progress?.get(id)?.match ?? 0;
    if (match + CATCH_UP_ENTRIES >= s.lastIndex) return { kind: "promote", raftId: id };
  }
  return undefined;
}

/** Managers whose stored reachability differs from what the leader's Raft progress says. */
export function reachabilityChanges(
  nodes: readonly { id: string; managerStatus?: { raftId: string; reachability: string } }[],
  s: ReturnType<MembershipDeps["status"]>,
  self: number,
): { nodeId: string; reachability: "reachable" | "unreachable" }[] {
  const members = new Set([...s.conf.voters, ...s.conf.learners]);
  const out: { nodeId: string; reachability: "reachable" | "unreachable" }[] = [];
  for (const n of nodes) {
    const ms = n.managerStatus;
    if (!ms) continue;
    const raftId = Number(ms.raftId);
    if (!members.has(raftId)) continue;
    const up = raftId === self || s.progress?.get(raftId)?.recentActive === true;
    const reachability = up ? "reachable" : "unreachable";
    if (ms.reachability !== reachability) out.push({ nodeId: n.id, reachability });
  }
  return out;
}

/** A new leader's view of its peers is empty until they answer: judge none before this. */
const REACHABILITY_SETTLE_MS = 3_000;

export class MembershipReconciler {
  readonly #d: MembershipDeps;
  readonly #watch: ReturnType<Store["watch"]>;
  #timer: NodeJS.Timeout;
  #busy = false;
  #stopped = false;
  #refused = new Set<number>();
  readonly #removed = new Set<number>();
  readonly #since = Date.now();
  /** Demoted members by when this leader first saw them (the certificate grace). */
  readonly #demotedSeen = new Map<string, number>();

  constructor(d: MembershipDeps) {
    this.#d = d;
    this.#watch = d.store.watch({ tables: ["nodes"] });
    this.#timer = setInterval(() => void this.#step(), 1000);
    const watch = this.#watch;
    void (async () => {
      for await (const _ of watch) {
        if (this.#stopped) return;
        watch.drain();
        void this.#step();
      }
    })();
    void this.#step();
  }

  async #step(): Promise<void> {
    if (this.#busy || this.#stopped) return;
    this.#busy = true;
    try {
      const d = this.#d;
      const nodes = d.store.view((tx) => tx.find("nodes"));
      if (Date.now() - this.#since >= REACHABILITY_SETTLE_MS) await this.#reachability(nodes);
      const now = Date.now();
      const demoted = new Set<string>();
      for (const n of nodes)
        if (n.spec.role === "worker" && n.managerStatus) {
          demoted.add(n.id);
          if (!this.#demotedSeen.has(n.id)) this.#demotedSeen.set(n.id, now);
        }
      for (const id of this.#demotedSeen.keys()) if (!demoted.has(id)) this.#demotedSeen.delete(id);
      const grace = d.certGraceMs ?? DEMOTION_CERT_GRACE_MS;
      const graceOver = (id: string) => now - (this.#demotedSeen.get(id) ?? now) >= grace;
      const step = nextMembershipStep(nodes, d.status(), d.selfRaftId, graceOver, this.#removed);
      if (!step) return;
      if (step.kind === "refuse") {
        if (!this.#refused.has(step.raftId))
          d.log.error("manager not removed", { raftId: step.raftId, why: step.why });
        this.#refused.add(step.raftId);
        return;
      }
      if (step.kind === "transfer") {
        d.log.info("this manager was demoted: handing over leadership", { to: step.to });
        d.transfer(step.to);
      } else if (step.kind === "promote") {
        d.log.info("manager caught up: promoting to voter", { raftId: step.raftId });
        await d.change({ type: "addVoter", nodeId: step.raftId });
      } else if (step.kind === "remove") {
        d.log.info("manager demoted: removing from the Raft group", { raftId: step.raftId });
        await d.change({ type: "removeNode", nodeId: step.raftId });
        this.#removed.add(step.raftId);
      } else if (step.kind === "revoke") {
        const revoked = await d.writer.update((tx) => {
          const n = tx.get("nodes", step.nodeId);
          if (!n) return [];
          const now = Date.now();
          const serials = revokeSerialsInTx(tx, supersededDue(n), now);
          const certificate = withoutSuperseded(n.certificate);
          tx.update("nodes", { ...n, ...(certificate ? { certificate } : {}), updatedAt: now });
          return serials;
        });
        d.log.info("superseded certificates revoked", { node: step.nodeId, serials: revoked });
      } else {
        const revoked = await d.writer.update((tx) => {
          const n = tx.get("nodes", step.nodeId);
          if (!n?.managerStatus) return [];
          const now = Date.now();
          // Out of the group: its manager certificate opens no manager door any more.
          const serials = revokeSerialsInTx(tx, revokedOnLeave(n), now);
          const { managerStatus: _, certificate: c, ...rest } = n;
          const certificate = withoutSuperseded(c);
          const status = { ...n.status, state: "down" as const, message: "left the Raft group" };
          // Promoted back after its removal committed: too late, it has left (and stops).
          const spec = { ...n.spec, role: "worker" as const };
          tx.update("nodes", {
            ...rest,
            spec,
            ...(certificate ? { certificate } : {}),
            status,
            updatedAt: now,
          });
          return serials;
        });
        d.log.info("manager left the Raft group", { node: step.nodeId, revoked });
      }
    } catch (err) {
      this.#d.log.debug("membership step failed", { err: (err as Error).message });
    } finally {
      this.#busy = false;
    }
  }

  async #reachability(nodes: Parameters<typeof reachabilityChanges>[0]): Promise<void> {
    const changes = reachabilityChanges(nodes, this.#d.status(), this.#d.selfRaftId);
    if (changes.length === 0) return;
    await this.#d.writer.update((tx) => {
      for (const c of changes) {
        const n = tx.get("nodes", c.nodeId);
        if (!n?.managerStatus) continue;
        const managerStatus = { ...n.managerStatus, reachability: c.reachability };
        tx.update("nodes", { ...n, managerStatus, updatedAt: Date.now() });
      }
    });
    for (const c of changes) this.#d.log.info("manager reachability", { ...c });
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#watch.close();
  }
}
