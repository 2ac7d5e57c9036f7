// The Raft driver: one manager's consensus loop around the pure core (etcd's contract).
//
//   timer -> tick;  peer frame -> step;  write -> propose
//   while hasReady: persist (one fsync) -> send -> apply to the store -> advance   (§3.8, §10.2.1)
//
// Proposals carry a request id; the writer that proposed waits for that entry to be applied.

import { randomBytes } from "node:crypto";
import { FleetError } from "../../core/errors.ts";
import { bootstrapState } from "../../core/raft/bootstrap.ts";
import { RawNode, type Status } from "../../core/raft/rawnode.ts";
import type { ConfChange, Entry, Message, NodeId, Ready } from "../../core/raft/types.ts";
import { parseMessage } from "../../core/raft/validate.ts";
import { createRng } from "../../core/rand.ts";
import type { StoreAction } from "../../core/store/actions.ts";
import { encodeActions, encodeSnapshot } from "../../core/store/encoding.ts";
import type { Store } from "../../core/store/store.ts";
import { applyEntry, applySnapshot } from "./apply.ts";
import { DiskStorage } from "./disk-storage.ts";
import { forceNewCluster } from "./force-new-cluster.ts";
import { Proposals } from "./proposals.ts";
import type { SocketFactory } from "./sockets.ts";
import { type PeerAddr, Transport } from "./transport.ts";
import { toWire } from "./wire.ts";

export interface RaftNodeOptions {
  id: NodeId;
  dataDir: string;
  listen: PeerAddr;
  store: Store;
  /** Known peer addresses (founders, or the members a joining node is told about). */
  peers?: ReadonlyMap<NodeId, PeerAddr>;
  /** With an empty data dir: found a new cluster of these voters. Absent: wait to be added. */
  bootstrap?: readonly NodeId[];
  /** Restart a survivor of a lost quorum as a one-member cluster with its data (§ docs). */
  forceNewCluster?: boolean;
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  /** Take a snapshot every this many applied entries... */
  snapshotEntries?: number;
  /** ...keeping this many entries behind it for slow followers. */
  snapshotTailEntries?: number;
  proposalTimeoutMs?: number;
  seed?: number;
  log?: (line: string) => void;
  /** A disk write failed: durability can no longer be promised, the node has stopped. */
  onFatal?: (err: Error) => void;
  onLeaderChange?: (leader: NodeId, term: number) => void;
  /** How peer connections are made: plain TCP by default, mutual TLS in secure mode. */
  sockets?: SocketFactory;
}

/** A proposal encoded once, so that proposing it again sends the very same entry. */
export interface Proposal {
  readonly requestId: string;
  readonly data: Uint8Array;
}

export class RaftNode {
  readonly id: NodeId;
  readonly store: Store;
  readonly #opts: RaftNodeOptions;
  readonly #storage: DiskStorage;
  readonly #node: RawNode;
  #transport!: Transport;
  readonly #peers = new Map<NodeId, PeerAddr>();
  /** Members the transport currently connects to. */
  readonly #linked = new Set<NodeId>();
  readonly #proposals = new Proposals();
  /** The term of the last entry applied: a later one settles proposals lost in between. */
  #appliedTerm: number;
  /** ReadIndex requests by context, waiting for their read index to be applied (§6.4). */
  readonly #reads = new Map<
    string,
    { resolve: () => void; reject: (e: Error) => void; index: number }
  >();
  readonly #bootNonce = randomBytes(6).toString("hex");
  #seq = 0;
  #ticker: NodeJS.Timeout | undefined;
  #pumping = false;
  /** Between ready() and advance(): the core takes no input then (its contract). */
  #inReady = false;
  #deferred: (() => void)[] = [];
  #again = false;
  #stopped = false;
  #lastSnapshotIndex: number;
  #leader: NodeId = 0;
  readonly #log: (line: string) => void;

  private constructor(opts: RaftNodeOptions, storage: DiskStorage, node: RawNode) {
    this.id = opts.id;
    this.store = opts.store;
    this.#opts = opts;
    this.#storage = storage;
    this.#node = node;
    this.#log = opts.log ?? ((l) => console.error(l));
    this.#lastSnapshotIndex = storage.snapshot().metadata.index;
    this.#appliedTerm = storage.snapshot().metadata.term;
    for (const [id, addr] of opts.peers ?? []) this.#peers.set(id, addr);
  }

  static async start(opts: RaftNodeOptions): Promise<RaftNode> {
    const log = opts.log ?? ((l: string) => console.error(l));
    const storage = await DiskStorage.open(opts.dataDir, { log });
    if (storage.recovery.torn)
      log(`raft: recovered a torn WAL tail: ${JSON.stringify(storage.recovery.torn)}`);
    if (opts.forceNewCluster) await forceNewCluster(storage, opts.id, log);
    else if (storage.lastIndex() === 0 && opts.bootstrap) {
      const { snapshot, hardState } = bootstrapState(opts.bootstrap);
      await storage.save({ snapshot, hardState });
    }
    const snap = storage.snapshot();
    const problem = applySnapshot(opts.store, snap);
    if (problem) throw new FleetError("raft", "bad_snapshot", problem);
    const node = new RawNode({
      id: opts.id,
      storage,
      rng: createRng(opts.seed ?? randomBytes(4).readUInt32LE()),
      electionTicks: opts.electionTicks ?? 10,
      heartbeatTicks: opts.heartbeatTicks ?? 1,
      applied: snap.metadata.index,
      preVote: true,
      checkQuorum: true,
    });
    const self = new RaftNode(opts, storage, node);
    self.#transport = await Transport.start({
      id: opts.id,
      listen: opts.listen,
      onMessage: (from, m) => self.#onMessage(from, m),
      onUnreachable: (peer) => self.#onUnreachable(peer),
      // The leader dials us; its connection closing is the earliest sign that it died.
      onPeerClosed: (peer) => self.#onLeaderConnectionLost(peer),
      log,
      sockets: opts.sockets,
    });
    self.#syncPeers();
    self.#ticker = setInterval(() => self.#tick(), opts.tickMs ?? 100);
    if (
      snap.metadata.confState.voters.length === 1 &&
      snap.metadata.confState.voters[0] === opts.id
    ) {
      node.campaign(); // a lone voter need not wait out an election timeout
    }
    // Apply what is already durable and committed before anyone reads this replica.
    self.#pumping = true;
    await self.#pump().finally(() => {
      self.#pumping = false;
    });
    self.#kick();
    return self;
  }

  /** Where peers reach this node. */
  get address(): PeerAddr {
    return this.#transport.address;
  }

  get leader(): NodeId {
    return this.#leader;
  }

  get isLeader(): boolean {
    return this.#node.state === "leader";
  }

  status(): Status {
    return this.#node.status();
  }

  /** Tells the transport where a member lives (the manager learns it from the store). */
  setPeer(id: NodeId, addr: PeerAddr): void {
    if (id === this.id) return;
    const known = this.#peers.get(id);
    this.#peers.set(id, addr);
    if (!known) this.#transport.addPeer(id, addr);
    else if (known.host !== addr.host || known.port !== addr.port)
      this.#transport.updatePeer(id, addr);
  }

  /**
   * Proposes a transaction's actions and resolves once they are applied here. Rejects with the
   * store's verdict (e.g. "update out of sequence"), with a retryable "proposal_dropped" /
   * "proposalDropped" when it was lost in a leader change or no leader could take it (propose
   * it again: see RaftWriter), or a retryable "timeout" (it may still commit).
   */
  propose(actions: readonly StoreAction[]): Promise<void> {
    return this.submit(this.proposal(actions));
  }

  /** Encodes actions with a fresh request id, for submit(). */
  proposal(actions: readonly StoreAction[]): Proposal {
    const requestId = `${this.id}.${this.#bootNonce}.${++this.#seq}`;
    return { requestId, data: encodeActions(actions, requestId) };
  }

  /** Proposes an encoded proposal (again, after it was dropped); as propose(). */
  submit(p: Proposal): Promise<void> {
    if (this.#stopped) return Promise.reject(stoppedError());
    const done = this.#proposals.wait(p.requestId, this.#opts.proposalTimeoutMs ?? 10_000);
    this.#input(() => {
      try {
        this.#node.propose(p.data);
        this.#proposals.taken(p.requestId, this.#node.raft.term, this.isLeader);
      } catch (err) {
        this.#proposals.fail(p.requestId, err as Error);
      }
    });
    return done;
  }

  /** Resolves once a leader is known (true), or false after `timeoutMs` or on stop. */
  async whenLeader(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#leader === 0 || this.status().leadTransferee !== 0) {
      if (this.#stopped || Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return !this.#stopped;
  }

  /** Proposes a membership change (leader only); resolves when it is applied here. */
  changeMembership(cc: ConfChange, addr?: PeerAddr): Promise<void> {
    if (addr) this.setPeer(cc.nodeId, addr);
    return new Promise<void>((resolve, reject) => {
      this.#input(() => {
        try {
          this.#node.proposeConfChange(cc);
        } catch (err) {
          reject(err);
          return;
        }
        this.#waitApplied(this.#node.raft.log.lastIndex()).then(resolve, reject);
      });
    });
  }

  transferLeadership(to: NodeId): void {
    this.#input(() => this.#node.transferLeader(to));
  }

  /**
   * Resolves once this replica has applied everything committed when the call was made, as
   * confirmed by the leader with a quorum (ReadIndex, thesis §6.4): a read after it is
   * linearizable. Works on followers too.
   */
  linearizable(timeoutMs = 5_000): Promise<void> {
    if (this.#stopped) return Promise.reject(stoppedError());
    const ctx = `${this.#bootNonce}.${++this.#seq}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#reads.delete(ctx);
        reject(new FleetError("raft", "timeout", `no read index within ${timeoutMs} ms`, true));
      }, timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        resolve();
      };
      const done = { resolve: settle, reject, index: -1 };
      this.#reads.set(ctx, done);
      this.#input(() => {
        try {
          this.#node.readIndex(new TextEncoder().encode(ctx));
        } catch (err) {
          clearTimeout(timer);
          this.#reads.delete(ctx);
          reject(err);
        }
      });
    });
  }

  /** Feeds the core now, or right after the Ready in progress is advanced. */
  #input(fn: () => void): void {
    if (this.#inReady) this.#deferred.push(fn);
    else fn();
    this.#kick();
  }

  #settleReads(rd: Ready): void {
    for (const rs of rd.readStates) {
      const r = this.#reads.get(new TextDecoder().decode(rs.context));
      if (r) r.index = rs.index;
    }
    const applied = this.#node.status().applied;
    for (const [ctx, r] of this.#reads) {
      if (r.index < 0 || r.index > applied) continue;
      this.#reads.delete(ctx);
      r.resolve();
    }
  }

  /** Resolves once this replica has applied at least `index` (bounded wait). */
  #waitApplied(index: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#node.status().applied >= index) return resolve();
        if (this.#stopped || Date.now() > deadline)
          return reject(stoppedError("not applied in time"));
        setTimeout(check, 10);
      };
      check();
    });
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#ticker);
    this.#proposals.rejectAll(stoppedError());
    for (const [, r] of this.#reads) r.reject(stoppedError());
    this.#reads.clear();
    while (this.#pumping) await new Promise((r) => setTimeout(r, 5));
    // Commit-index moves are written without fsync (they may be lost, Raft allows it); on a clean
    // stop make the latest one durable so a restart serves everything it had applied.
    await this.#storage
      .save({ hardState: this.#node.status().hardState, mustSync: true })
      .catch((err: Error) => this.#log(`raft: final sync failed: ${err.message}`));
    await this.#transport.close();
    await this.#storage.close();
  }

  #tick(): void {
    this.#input(() => this.#node.tick());
  }

  /** A lost connection to the leader means it most likely crashed: don't wait out its lease. */
  #onUnreachable(peer: NodeId): void {
    if (this.#stopped || peer !== this.#leader || this.isLeader) return;
    if (this.#transport.peerStatus(peer)?.connected) return; // a full queue, not a lost leader
    this.#input(() => this.#node.leaderUnreachable());
  }

  #onLeaderConnectionLost(peer: NodeId): void {
    if (this.#stopped || peer !== this.#leader || this.isLeader) return;
    this.#input(() => this.#node.leaderUnreachable());
  }

  #onMessage(from: number, raw: unknown): void {
    if (this.#stopped) return;
    let m: Message;
    try {
      m = parseMessage(raw);
    } catch (err) {
      this.#log(`raft: dropped a malformed message from peer ${from}: ${(err as Error).message}`);
      return;
    }
    // A follower that gets a request meant for the leader passes it on unchanged, origin
    // included (the leader answers a readIndex to its origin): a proposal or read request
    // forwarded by a follower that has just stopped leading arrives from a peer other than its
    // `from`. Everything else must come from the peer it names.
    const relayed = m.type === "prop" || m.type === "readIndex";
    if ((m.from !== from && !relayed) || m.to !== this.id) {
      this.#log(`raft: dropped a message from peer ${from} claiming ${m.from} -> ${m.to}`);
      return;
    }
    this.#input(() => this.#node.step(m));
  }

  /** Runs the ready loop soon; coalesces many triggers into one pass. */
  #kick(): void {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    setImmediate(() => {
      this.#pump()
        .catch((err: Error) => this.#fatal(err))
        .finally(() => {
          this.#pumping = false;
          if (this.#again && !this.#stopped) {
            this.#again = false;
            this.#kick();
          }
        });
    });
  }

  async #pump(): Promise<void> {
    while (!this.#stopped && this.#node.hasReady()) {
      const rd = this.#node.ready();
      this.#inReady = true;
      try {
        // Committed entries already on our disk are durable on a quorum: applying them (and
        // answering their writers) need not wait for this Ready's fsync, as in etcd's server.
        // Entries not yet on our disk (a lone voter commits on append) wait for it.
        const early = rd.snapshot ? 0 : this.#applyDurable(rd);
        await this.#persist(rd);
        for (const m of rd.messages) this.#transport.send(m.to, toWire(m));
        this.#apply(rd, early);
        this.#node.advance(rd);
      } finally {
        this.#inReady = false;
      }
      this.#settleReads(rd);
      const deferred = this.#deferred;
      this.#deferred = [];
      for (const fn of deferred) fn();
      await this.#maybeSnapshot();
    }
  }

  async #persist(rd: Ready): Promise<void> {
    if (!rd.hardState && rd.entries.length === 0 && !rd.snapshot) return;
    await this.#storage.save({
      ...(rd.hardState ? { hardState: rd.hardState } : {}),
      entries: rd.entries,
      ...(rd.snapshot ? { snapshot: rd.snapshot } : {}),
      mustSync: rd.mustSync,
    });
  }

  /** Applies the leading committed entries that are already durable here; returns how many. */
  #applyDurable(rd: Ready): number {
    const durable = this.#storage.lastIndex();
    let n = 0;
    while (n < rd.committedEntries.length && rd.committedEntries[n]!.index <= durable) n++;
    this.#applyEntries(rd.committedEntries.slice(0, n));
    return n;
  }

  #apply(rd: Ready, skip = 0): void {
    if (rd.softState && rd.softState.lead !== this.#leader) {
      this.#leader = rd.softState.lead;
      this.#opts.onLeaderChange?.(this.#leader, this.#node.status().hardState.term);
    }
    if (rd.snapshot) {
      const problem = applySnapshot(this.store, rd.snapshot);
      if (problem) throw new FleetError("raft", "bad_snapshot", problem);
      this.#lastSnapshotIndex = rd.snapshot.metadata.index;
      // Proposals whose entries a snapshot covers cannot be told committed from lost: they
      // wait out their timeout ("it may still commit") rather than be reported dropped.
      this.#appliedTerm = Math.max(this.#appliedTerm, rd.snapshot.metadata.term);
    }
    this.#applyEntries(skip === 0 ? rd.committedEntries : rd.committedEntries.slice(skip));
  }

  #applyEntries(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.term > this.#appliedTerm) {
        this.#appliedTerm = e.term;
        const n = this.#proposals.newTerm(e.term);
        if (n > 0) this.#log(`raft: ${n} proposals lost in the change to term ${e.term}`);
      }
      const r = applyEntry(this.store, e);
      if (r.kind === "write" && r.requestId) this.#proposals.applied(r.requestId, r.error);
      else if (r.kind === "conf") {
        this.#node.applyConfChange(r.change);
        if (r.change.type === "removeNode") this.#forgetPeer(r.change.nodeId);
      } else if (r.kind === "corrupt") this.#log(`raft: skipped a corrupt entry: ${r.reason}`);
    }
  }

  /** Connects the transport to every peer we know an address for. */
  #syncPeers(): void {
    for (const [id, addr] of this.#peers) {
      if (id === this.id || this.#linked.has(id)) continue;
      this.#transport.addPeer(id, addr);
      this.#linked.add(id);
    }
  }

  /** A removed member is forgotten: it may never rejoin with its old identity. */
  #forgetPeer(id: NodeId): void {
    this.#peers.delete(id);
    if (this.#linked.delete(id)) this.#transport.removePeer(id);
  }

  async #maybeSnapshot(): Promise<void> {
    const applied = this.#node.status().applied;
    const every = this.#opts.snapshotEntries ?? 10_000;
    if (applied - this.#lastSnapshotIndex < every) return;
    const data = encodeSnapshot(this.store);
    await this.#storage.createSnapshot(applied, this.#node.status().confState, data);
    this.#lastSnapshotIndex = applied;
    const keep = this.#opts.snapshotTailEntries ?? 1_000;
    const compactTo = applied - keep;
    if (compactTo > this.#storage.firstIndex()) this.#storage.compact(compactTo);
  }

  #fatal(err: Error): void {
    this.#log(`raft: fatal: ${err.stack ?? err.message}`);
    void this.stop();
    this.#opts.onFatal?.(err);
  }
}

function stoppedError(why = "the raft node stopped"): FleetError {
  return new FleetError("raft", "stopped", why, true);
}
