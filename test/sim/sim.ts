// One deterministic simulation run: the seed draws the cluster and its faults; a safety phase
// runs a client workload through loss, duplication, reordering, partitions, crashes (with torn
// writes), membership changes and leader transfers while the checkers watch every step; then
// the network heals and the cluster must converge within a bounded number of ticks; finally
// the client history must be linearizable.

import type { ConfChange, ConfState, NodeId } from "../../core/raft/index.ts";
import { isRaftError } from "../../core/raft/index.ts";
import { createRng, type Rng } from "../../core/rand.ts";
import { SafetyChecker, SafetyViolation } from "./checkers.ts";
import { Clients } from "./client.ts";
import { checkLinearizable, type Verdict } from "./linearizability.ts";
import { Network } from "./network.ts";
import { type NodeOptions, SimNode } from "./node.ts";

/** Micro-ticks per Raft tick: messages are delivered at micro-tick resolution. */
const MICRO = 10;
const ID_MAX = 9;

export interface SimOptions {
  seed: number;
  safetyTicks?: number;
  livenessTicksMax?: number;
  /** Self-test only: inject a bug the checkers must catch. */
  bug?: "corruptEntry" | "sendBeforePersist" | "staleReads";
}

export interface SimResult {
  seed: number;
  ok: boolean;
  failure?: string;
  linearizable: Verdict;
  params: string;
  stats: Record<string, number>;
}

interface Params {
  size: number;
  lossRate: number;
  dupRate: number;
  delayMax: number;
  partitionRate: number;
  crashRate: number;
  confRate: number;
  transferRate: number;
  clients: number;
  keys: number;
  node: Omit<NodeOptions, "seed">;
}

function drawParams(rng: Rng): Params {
  const electionTicks = 5 + rng.int(16);
  // One seed in four is a storm: faults three times as often.
  const harsh = rng.int(4) === 0 ? 3 : 1;
  return {
    size: 1 + rng.int(7),
    lossRate: rng.int(3) === 0 ? 0 : rng.float() * 0.2,
    dupRate: rng.float() * 0.1,
    delayMax: 1 + rng.int(30),
    partitionRate: harsh * rng.float() * 0.03,
    crashRate: harsh * rng.float() * 0.02,
    confRate: harsh * rng.float() * 0.02,
    transferRate: harsh * rng.float() * 0.01,
    clients: 1 + rng.int(4),
    keys: 1 + rng.int(3),
    node: {
      electionTicks,
      heartbeatTicks: 1 + rng.int(Math.min(3, electionTicks - 1)),
      snapshotChunkBytes: 16 + rng.int(200),
      maxInflightMsgs: 1 + rng.int(16),
      maxAppendBytes: 64 + rng.int(4096),
      maxCommittedBytesPerReady: 64 + rng.int(4096),
      snapshotEvery: 3 + rng.int(30),
      compactTail: rng.int(10),
    },
  };
}

export class Simulation {
  readonly rng: Rng;
  readonly p: Params;
  readonly checker = new SafetyChecker();
  readonly network: Network;
  readonly clients: Clients;
  readonly nodes = new Map<NodeId, SimNode>();
  private readonly downUntil = new Map<NodeId, number>();
  private readonly retired = new Set<NodeId>();
  private readonly removalsApplied = new Map<NodeId, Set<NodeId>>();
  private nextId: number;
  now = 0;
  private stats = { crashes: 0, partitions: 0, confChanges: 0, transfers: 0, snapshotChunks: 0 };

  constructor(readonly opts: SimOptions) {
    this.rng = createRng(opts.seed);
    this.p = drawParams(this.rng);
    const f = this.p;
    this.network = new Network(this.rng, {
      lossRate: f.lossRate,
      dupRate: f.dupRate,
      delayMax: f.delayMax,
    });
    const keys = Array.from({ length: f.keys }, (_, i) => `k${i}`);
    const stale = opts.bug === "staleReads";
    this.clients = new Clients(this.rng, f.clients, keys, 4 * f.node.electionTicks, stale);
    const founders = Array.from({ length: f.size }, (_, i) => i + 1);
    for (const id of founders) this.addNode(id).bootstrap(founders);
    this.nextId = f.size + 1;
  }

  private addNode(id: NodeId): SimNode {
    const node = new SimNode(
      id,
      {
        seed: this.opts.seed,
        ...this.p.node,
        bug: this.opts.bug === "sendBeforePersist" ? "sendBeforePersist" : undefined,
      },
      {
        checker: this.checker,
        send: (m) => {
          if (m.type === "snap") this.stats.snapshotChunks++;
          this.network.send(m, this.now);
        },
        applied: (n, e, cmd, result) => this.clients.onApplied(n, e, cmd, result),
        confApplied: (n, cc, cs) => this.onConfApplied(n, cc, cs),
        readState: (n, rs) => this.clients.onReadState(n, rs),
      },
      this.rng,
    );
    this.nodes.set(id, node);
    return node;
  }

  private running(): SimNode[] {
    return [...this.nodes.values()].filter((n) => !this.retired.has(n.id));
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.running()) {
      if (n.raft?.state !== "leader") continue;
      if (!best || n.raft.raft.term > best.raft!.raft.term) best = n;
    }
    return best;
  }

  /**
   * A removed member is shut down once a majority of the new voters applied its removal (as an
   * operator would wait for): from then on the new configuration can elect without it.
   */
  private onConfApplied(n: SimNode, cc: ConfChange, cs: ConfState): void {
    if (cc.type !== "removeNode" || this.retired.has(cc.nodeId)) return;
    const by = this.removalsApplied.get(cc.nodeId) ?? new Set<NodeId>();
    by.add(n.id);
    this.removalsApplied.set(cc.nodeId, by);
    const applied = cs.voters.filter((id) => by.has(id)).length;
    if (applied <= cs.voters.length / 2) return;
    const gone = this.nodes.get(cc.nodeId);
    this.retired.add(cc.nodeId);
    if (gone) gone.raft = undefined;
    this.network.dropTo(cc.nodeId);
  }

  run(): SimResult {
    const safetyTicks = this.opts.safetyTicks ?? 400;
    let failure: string | undefined;
    let linearizable: Verdict = "unknown";
    try {
      for (let t = 0; t < safetyTicks; t++) this.tick(true);
      this.heal();
      const maxTicks = this.opts.livenessTicksMax ?? 600;
      let t = 0;
      for (; t < maxTicks && !this.converged(); t++) this.tick(false);
      if (!this.converged()) {
        throw new Error(`liveness: not converged ${maxTicks} ticks after healing (${this.why()})`);
      }
      this.checkAcknowledged();
      const lin = checkLinearizable(this.clients.history);
      linearizable = lin.verdict;
      if (lin.verdict === "illegal") throw new Error(`history not linearizable (key ${lin.key})`);
    } catch (err) {
      if (!(err instanceof SafetyViolation) && !(err instanceof Error)) throw err;
      failure = `${err instanceof SafetyViolation ? "safety" : "error"}: ${err.message}`;
      if (!(err instanceof SafetyViolation) && !err.message.startsWith("liveness")) {
        if (!err.message.startsWith("history")) failure += `\n${err.stack}`;
      }
    }
    return {
      seed: this.opts.seed,
      ok: failure === undefined,
      failure,
      linearizable,
      params: JSON.stringify({ ...this.p, node: undefined, ...this.p.node }),
      stats: {
        ...this.stats,
        ticks: this.now / MICRO,
        ops: this.clients.history.length,
        completed: this.clients.completed,
        acked: this.clients.acked.length,
        sent: this.network.sent,
        dropped: this.network.dropped,
        checks: this.checker.checks,
        elections: this.checker.elections,
        tornTails: [...this.nodes.values()].reduce((n, x) => n + x.disk.tornTails, 0),
        lostWrites: [...this.nodes.values()].reduce((n, x) => n + x.disk.lostWrites, 0),
      },
    };
  }

  /** One Raft tick: deliveries and client actions at micro-tick resolution, then tick(). */
  private tick(faulty: boolean): void {
    for (let u = 0; u < MICRO; u++) {
      this.now++;
      for (const m of this.network.due(this.now)) {
        const n = this.nodes.get(m.to);
        if (!n?.raft) continue;
        n.raft.step(m);
        this.drain(n);
      }
      if (u === 0) this.clientsAct(faulty);
    }
    if (faulty) this.injectFaults();
    this.restartDue();
    for (const n of this.running()) {
      if (!n.raft) continue;
      n.raft.tick();
      this.drain(n);
    }
  }

  private drain(n: SimNode): void {
    n.drain();
    if (this.opts.bug === "corruptEntry" && n.up && this.now > 50 * MICRO) this.corrupt(n);
    if (n.up) this.clients.pollReads(n);
  }

  private clientsAct(start: boolean): void {
    const before = new Set(this.running().filter((n) => n.up));
    this.clients.act(this.now / MICRO, this.running(), start);
    for (const n of before) this.drain(n);
  }

  private injectFaults(): void {
    const r = this.rng;
    if (r.float() < this.p.partitionRate) this.partition();
    if (r.float() < this.p.crashRate) this.crash();
    if (r.float() < this.p.confRate) this.changeMembership();
    if (r.float() < this.p.transferRate) this.transfer();
  }

  private partition(): void {
    this.stats.partitions++;
    const ids = this.running().map((n) => n.id);
    const kind = this.rng.int(3);
    if (kind === 0) this.network.heal();
    else if (kind === 1) {
      const side = ids.filter(() => this.rng.int(2) === 0);
      this.network.partition([side, ids.filter((id) => !side.includes(id))]);
    } else if (ids.length > 1) {
      const a = ids[this.rng.int(ids.length)]!;
      const b = ids[this.rng.int(ids.length)]!;
      if (a !== b) this.network.block(a, b);
    }
  }

  private crash(): void {
    const up = this.running().filter((n) => n.up);
    if (up.length === 0) return;
    const n = up[this.rng.int(up.length)]!;
    this.stats.crashes++;
    // Two in three crashes strike while a Ready is being written (torn writes).
    if (this.rng.int(3) > 0) n.crashOnNextReady = true;
    else n.crash();
    this.network.dropTo(n.id);
    this.downUntil.set(n.id, this.now + MICRO * (5 + this.rng.int(100)));
  }

  private restartDue(): void {
    for (const n of this.running()) {
      if (n.up) continue;
      const until = this.downUntil.get(n.id) ?? 0;
      if (this.now >= until) {
        n.start();
        this.drain(n);
      }
    }
  }

  private changeMembership(): void {
    const l = this.leader();
    if (!l?.raft) return;
    const cs = l.raft.raft.tracker.confState();
    const cc = this.pickConfChange(cs);
    if (!cc) return;
    try {
      l.raft.proposeConfChange(cc);
    } catch (err) {
      const refused = ["confChangePending", "invalidArgument", "proposalDropped"] as const;
      if (refused.some((code) => isRaftError(err, code))) return;
      throw err;
    }
    this.stats.confChanges++;
    if (!this.nodes.has(cc.nodeId)) this.addNode(cc.nodeId).start();
    this.drain(l);
  }

  private pickConfChange(cs: ConfState): ConfChange | undefined {
    const r = this.rng.int(4);
    const members = [...cs.voters, ...cs.learners];
    if (r === 0 && this.nextId <= ID_MAX) return { type: "addLearner", nodeId: this.nextId++ };
    if (r === 1 && cs.learners.length > 0) {
      return { type: "addVoter", nodeId: cs.learners[this.rng.int(cs.learners.length)]! };
    }
    if (r === 2 && cs.voters.length > 1) {
      return { type: "addLearner", nodeId: cs.voters[this.rng.int(cs.voters.length)]! };
    }
    if (r === 3 && members.length > 1) {
      return { type: "removeNode", nodeId: members[this.rng.int(members.length)]! };
    }
    return undefined;
  }

  private transfer(): void {
    const l = this.leader();
    if (!l?.raft) return;
    const voters = l.raft.raft.tracker.voters;
    this.stats.transfers++;
    l.raft.transferLeader(voters[this.rng.int(voters.length)]!);
    this.drain(l);
  }

  private heal(): void {
    this.network.heal();
    this.network.faults = { lossRate: 0, dupRate: 0, delayMax: this.network.faults.delayMax };
    for (const n of this.running()) if (!n.up) this.downUntil.set(n.id, 0);
    this.clients.expireAll(this.now / MICRO);
  }

  /** A leader leads every member, all of which applied everything; no client waits. */
  private converged(): boolean {
    const l = this.leader();
    if (!l?.raft || this.clients.busy > 0) return false;
    const r = l.raft.raft;
    if (r.log.committed !== r.log.lastIndex()) return false;
    const cs = r.tracker.confState();
    for (const id of [...cs.voters, ...cs.learners]) {
      const n = this.nodes.get(id);
      if (!n?.raft || n.raft.raft.lead !== l.id || n.applied !== r.log.committed) return false;
    }
    return true;
  }

  private why(): string {
    const l = this.leader();
    const parts = this.running().map((n) => {
      const r = n.raft?.raft;
      if (!r) return `${n.id}:down`;
      return `${n.id}:${r.state}/t${r.term}/lead${r.lead}/c${r.log.committed}/a${n.applied}`;
    });
    return `leader=${l?.id ?? "none"} clients busy=${this.clients.busy} ${parts.join(" ")}`;
  }

  /** Every acknowledged write is still in the log of every member (or in its snapshot). */
  private checkAcknowledged(): void {
    for (const n of this.running()) {
      if (!n.up) continue;
      for (const a of this.clients.acked) {
        if (n.applied >= a.index)
          this.checker.checkAcknowledged(n.id, a.index, a.term, n.logView());
      }
    }
  }

  /** Self-test bug: node 2's disk corrupts the next entry it writes (a flipped byte). */
  private corrupt(n: SimNode): void {
    if (n.id === 2 && !n.corrupted) n.corruptNextEntry = true;
  }
}

export function runSeed(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
