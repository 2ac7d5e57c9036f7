// One simulated manager: a RawNode over a simulated disk, the KV state machine, and the driver
// loop of rawnode.ts (persist -> send -> apply -> advance), with the safety checker watching
// every persisted entry, commit, election and application.

import {
  bootstrapState,
  type ConfChange,
  type ConfState,
  decodeConfChange,
  type Entry,
  MemoryStorage,
  type Message,
  type NodeId,
  RawNode,
  type ReadState,
  type Ready,
} from "../../core/raft/index.ts";
import { createRng, type Rng } from "../../core/rand.ts";
import type { LogView, SafetyChecker } from "./checkers.ts";
import { type DiskWrite, SimDisk } from "./disk.ts";
import { decodeCommand, Kv, type KvCommand, type KvResult } from "./kv.ts";

export interface NodeHooks {
  checker: SafetyChecker;
  send(m: Message): void;
  applied(node: SimNode, e: Entry, cmd: KvCommand, result: KvResult): void;
  confApplied(node: SimNode, cc: ConfChange, cs: ConfState): void;
  readState(node: SimNode, rs: ReadState): void;
}

export interface NodeOptions {
  seed: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotChunkBytes: number;
  /** Small flow-control bounds, so the simulator exercises them. */
  maxInflightMsgs: number;
  maxAppendBytes: number;
  maxCommittedBytesPerReady: number;
  snapshotEvery: number;
  compactTail: number;
  /** Self-test only: a driver bug the checkers must catch. */
  bug?: "sendBeforePersist";
}

export class SimNode {
  readonly disk = new SimDisk();
  live = new MemoryStorage();
  raft: RawNode | undefined;
  kv = new Kv();
  applied = 0;
  restarts = 0;
  /** Crash while persisting the next Ready (a torn write). */
  crashOnNextReady = false;
  private lastSnapshot = 0;
  /** Self-test only: corrupt the next entry written (a flipped byte on disk). */
  corruptNextEntry = false;
  corrupted = false;

  constructor(
    readonly id: NodeId,
    private readonly opts: NodeOptions,
    private readonly hooks: NodeHooks,
    private readonly rng: Rng,
  ) {}

  get up(): boolean {
    return this.raft !== undefined;
  }

  /** A founding member: bootstrap state written durably, then start. */
  bootstrap(voters: NodeId[]): void {
    const b = bootstrapState(voters);
    this.disk.write(this.live, [{ kind: "snapshot", snap: b.snapshot }], true);
    this.disk.write(this.live, [{ kind: "hardState", hs: b.hardState }], true);
    this.start();
  }

  /** Starts (or restarts) from whatever the disk holds. */
  start(): void {
    this.live = this.disk.recover();
    const snap = this.live.snapshot();
    this.kv = Kv.restore(snap.data);
    this.applied = snap.metadata.index;
    this.lastSnapshot = this.applied;
    this.hooks.checker.forget(this.id);
    this.raft = new RawNode({
      id: this.id,
      storage: this.live,
      rng: createRng(this.opts.seed * 1009 + this.id * 31 + this.restarts),
      applied: this.applied,
      electionTicks: this.opts.electionTicks,
      heartbeatTicks: this.opts.heartbeatTicks,
      snapshotChunkBytes: this.opts.snapshotChunkBytes,
      maxInflightMsgs: this.opts.maxInflightMsgs,
      maxAppendBytes: this.opts.maxAppendBytes,
      maxCommittedBytesPerReady: this.opts.maxCommittedBytesPerReady,
    });
  }

  crash(): void {
    this.disk.crash(this.rng);
    this.raft = undefined;
    this.crashOnNextReady = false;
    this.restarts++;
  }

  logView(): LogView {
    const s = this.live;
    return {
      term: (i) => {
        if (i < s.firstIndex() - 1 || i > s.lastIndex()) return undefined;
        return s.term(i);
      },
      snapshotIndex: () => s.firstIndex() - 1,
    };
  }

  /** Runs the driver loop until the node has nothing more to do. */
  drain(): void {
    while (this.raft?.hasReady()) this.handleReady(this.raft, this.raft.ready());
  }

  private handleReady(node: RawNode, rd: Ready): void {
    const writes: DiskWrite[] = [];
    if (rd.snapshot) writes.push({ kind: "snapshot", snap: rd.snapshot });
    if (rd.entries.length > 0) writes.push({ kind: "entries", ents: this.maybeCorrupt(rd) });
    if (rd.hardState) writes.push({ kind: "hardState", hs: rd.hardState });
    if (this.opts.bug === "sendBeforePersist") for (const m of rd.messages) this.hooks.send(m);
    if (this.crashOnNextReady && writes.length > 0) {
      // Power fails mid-write: nothing of this Ready was acknowledged or sent.
      this.disk.crash(this.rng, writes);
      this.raft = undefined;
      this.crashOnNextReady = false;
      this.restarts++;
      return;
    }
    this.disk.write(this.live, writes, rd.mustSync);
    this.check(rd);
    // Only after persisting (§3.8): an acknowledgement must survive a crash.
    if (this.opts.bug !== "sendBeforePersist") for (const m of rd.messages) this.hooks.send(m);
    if (rd.snapshot) this.restoreSnapshot(rd);
    for (const e of rd.committedEntries) this.apply(node, e);
    for (const rs of rd.readStates) this.hooks.readState(this, rs);
    node.advance(rd);
    this.maybeSnapshot(node);
  }

  private maybeCorrupt(rd: Ready): Entry[] {
    const i = rd.entries.findIndex((e) => e.data.length > 0);
    if (!this.corruptNextEntry || i < 0) return rd.entries;
    const e = rd.entries[i]!;
    const data = e.data.slice();
    data[0] = data[0]! ^ 0x01;
    rd.entries[i] = { ...e, data };
    this.corruptNextEntry = false;
    this.corrupted = true;
    return rd.entries;
  }

  private check(rd: Ready): void {
    const c = this.hooks.checker;
    const first = rd.entries[0];
    if (first) c.onPersist(this.id, rd.entries, this.logView().term(first.index - 1));
    if (rd.hardState) c.onCommit(this.id, rd.hardState.commit, this.logView());
    if (rd.softState?.state === "leader") {
      c.onLeader(this.id, this.raft!.raft.term, this.logView());
    }
  }

  private restoreSnapshot(rd: Ready): void {
    const snap = rd.snapshot!;
    this.kv = Kv.restore(snap.data);
    this.applied = snap.metadata.index;
    this.lastSnapshot = this.applied;
    this.hooks.checker.forget(this.id);
  }

  private apply(node: RawNode, e: Entry): void {
    this.hooks.checker.onApply(this.id, e);
    this.applied = e.index;
    if (e.type === "conf") {
      const cc = decodeConfChange(e.data);
      this.hooks.confApplied(this, cc, node.applyConfChange(cc));
    } else if (e.data.length > 0) {
      const cmd = decodeCommand(e.data);
      this.hooks.applied(this, e, cmd, this.kv.apply(cmd));
    }
  }

  /** Snapshots the state machine every few entries and compacts, keeping a tail (§5.1). */
  private maybeSnapshot(node: RawNode): void {
    if (this.applied - this.lastSnapshot < this.opts.snapshotEvery) return;
    const confState = node.confStateAt(this.applied);
    const term = this.live.term(this.applied);
    const snap = {
      metadata: { index: this.applied, term, confState },
      data: this.kv.snapshot(),
    };
    this.disk.snapshotAndCompact(
      this.live,
      snap,
      Math.max(1, this.applied - this.opts.compactTail),
    );
    this.lastSnapshot = this.applied;
  }
}
