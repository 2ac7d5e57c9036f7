// The environment behind the scenario scripts (test/raft/scenarios/*.txt): in-memory nodes, a
// message queue per node, partitions, and a driver that prints what each Ready contains. The
// printed trace is the expected output, so changes in behaviour show up as readable diffs.

import {
  bootstrapState,
  type ConfChangeType,
  decodeConfChange,
  describeConfChange,
  describeEntry,
  describeMessage,
  type Entry,
  MemoryStorage,
  type Message,
  type NodeId,
  RaftError,
  RawNode,
  type Ready,
} from "../../core/raft/index.ts";
import { createRng } from "../../core/rand.ts";
import type { Command } from "./datadriven.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface TestNode {
  id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  /** The state machine: the payloads applied, in order. */
  applied: string[];
}

export class Interaction {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages waiting for delivery, per recipient. */
  readonly queues = new Map<NodeId, Message[]>();
  /** Group of each node while partitioned; messages between different groups are dropped. */
  private groups = new Map<NodeId, number>();
  private out: string[] = [];

  private log(line: string): void {
    this.out.push(line);
  }

  handle(cmd: Command): string {
    this.out = [];
    try {
      this.dispatch(cmd);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      this.log(`error: ${err.code}: ${err.message}`);
    }
    return this.out.join("\n");
  }

  private dispatch(cmd: Command): unknown {
    const ids = cmd.args.map(Number);
    switch (cmd.name) {
      case "add-nodes":
        return this.addNodes(ids[0]!, cmd.args, cmd.kv);
      case "campaign":
        return this.get(ids[0]!).node.campaign();
      case "propose":
        return this.get(ids[0]!).node.propose(enc.encode(cmd.args[1] ?? ""));
      case "propose-bytes":
        return this.get(ids[0]!).node.propose(new Uint8Array(Number(cmd.args[1])));
      case "propose-conf-change":
        return this.get(ids[0]!).node.proposeConfChange({
          type: cmd.args[1] as ConfChangeType,
          nodeId: Number(cmd.args[2]),
        });
      case "transfer-leader":
        return this.get(ids[0]!).node.transferLeader(ids[1]!);
      case "read-index":
        return this.get(ids[0]!).node.readIndex(enc.encode(cmd.args[1] ?? ""));
      case "leader-unreachable":
        return this.get(ids[0]!).node.leaderUnreachable();
      case "tick":
        for (let i = 0; i < Number(cmd.kv.get("n") ?? 1); i++) this.get(ids[0]!).node.tick();
        return;
      case "tick-election":
        return this.tickElection(ids[0]!);
      case "tick-heartbeat":
        return this.get(ids[0]!).node.tick();
      case "process-ready":
        for (const id of ids) this.processReady(id);
        return;
      case "deliver-msgs":
        for (const id of ids) this.deliver(id, cmd.kv.get("drop"));
        return;
      case "stabilize":
        return this.stabilize(ids.length > 0 ? ids : [...this.nodes.keys()]);
      case "partition":
        return this.partition(cmd.args);
      case "heal":
        this.groups.clear();
        return;
      case "compact":
        return this.compact(ids[0]!, Number(cmd.args[1]));
      case "status":
        for (const id of ids.length > 0 ? ids : [...this.nodes.keys()]) this.status(id);
        return;
      case "raft-log":
        return this.raftLog(ids[0]!);
      default:
        throw new Error(`line ${cmd.line}: unknown command ${cmd.name}`);
    }
  }

  private get(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /**
   * add-nodes N: N founding voters 1..N (bootstrapped). add-nodes N join: N more nodes with
   * empty storage, to be added by membership changes. Options: chunk=<snapshot chunk bytes>.
   */
  private addNodes(n: number, flags: string[], kv: Map<string, string>): void {
    const first = this.nodes.size + 1;
    const ids = Array.from({ length: n }, (_, i) => first + i);
    const join = flags.includes("join");
    for (const id of ids) {
      const storage = new MemoryStorage();
      if (!join) {
        const b = bootstrapState(ids);
        storage.applySnapshot(b.snapshot);
        storage.setHardState(b.hardState);
      }
      const chunk = kv.get("chunk");
      const node = new RawNode({
        id,
        storage,
        rng: createRng(id),
        applied: join ? 0 : 1,
        snapshotChunkBytes: chunk ? Number(chunk) : undefined,
      });
      this.nodes.set(id, { id, node, storage, applied: [] });
      this.queues.set(id, []);
      this.log(`${id}: ${join ? "joining (empty)" : `voters=${ids.join(",")}`}`);
    }
  }

  /** Ticks exactly until the node's (randomized) election timeout, or check-quorum, fires. */
  private tickElection(id: NodeId): void {
    const n = this.get(id).node;
    const r = n.raft;
    const timeout = r.state === "leader" ? r.electionTimeout : r.randomizedElectionTimeout;
    for (let i = r.electionElapsed; i < timeout; i++) n.tick();
  }

  processReady(id: NodeId): boolean {
    const n = this.get(id);
    if (!n.node.hasReady()) return false;
    const rd = n.node.ready();
    this.describeReady(id, rd);
    if (rd.snapshot) {
      n.storage.applySnapshot(rd.snapshot);
      n.applied = rd.snapshot.data.length > 0 ? dec.decode(rd.snapshot.data).split(",") : [];
    }
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) this.send(m);
    for (const e of rd.committedEntries) this.apply(n, e);
    n.node.advance(rd);
    return true;
  }

  private describeReady(id: NodeId, rd: Ready): void {
    if (rd.softState) this.log(`${id}: ${rd.softState.state} lead=${rd.softState.lead}`);
    if (rd.hardState) {
      const h = rd.hardState;
      this.log(`${id}: hard state term=${h.term} vote=${h.vote} commit=${h.commit}`);
    }
    if (rd.snapshot) {
      const s = rd.snapshot.metadata;
      this.log(`${id}: persist snapshot ${s.term}/${s.index} voters=${s.confState.voters}`);
    }
    if (rd.entries.length > 0)
      this.log(`${id}: persist ${rd.entries.map(describeEntry).join(", ")}`);
    for (const rs of rd.readStates) {
      this.log(`${id}: read state index=${rs.index} ctx=${dec.decode(rs.context)}`);
    }
  }

  private apply(n: TestNode, e: Entry): void {
    if (e.type === "conf") {
      const cc = decodeConfChange(e.data);
      const cs = n.node.applyConfChange(cc);
      this.log(
        `${n.id}: apply ${e.term}/${e.index} ${describeConfChange(cc)} -> voters=${cs.voters}` +
          ` learners=${cs.learners}`,
      );
    } else if (e.data.length > 0) {
      n.applied.push(dec.decode(e.data));
      this.log(`${n.id}: apply ${describeEntry(e)}`);
    }
  }

  private send(m: Message): void {
    const a = this.groups.get(m.from);
    const b = this.groups.get(m.to);
    if (a !== undefined && b !== undefined && a !== b) {
      this.log(`  dropped: ${describeMessage(m)}`);
      return;
    }
    this.log(`  ${describeMessage(m)}`);
    this.queues.get(m.to)?.push(m);
  }

  /** Delivers node `id`'s queued messages, except those from nodes listed in drop=(a,b). */
  deliver(id: NodeId, drop?: string): number {
    const dropped = new Set(
      (drop ?? "").replace(/[()]/g, "").split(",").filter(Boolean).map(Number),
    );
    const q = this.queues.get(id)!;
    this.queues.set(id, []);
    for (const m of q) {
      if (dropped.has(m.from)) this.log(`  dropped: ${describeMessage(m)}`);
      else this.get(id).node.step(m);
    }
    return q.length;
  }

  private stabilize(ids: NodeId[]): void {
    for (let round = 0; round < 1000; round++) {
      let busy = false;
      for (const id of ids) busy = this.processReady(id) || busy;
      for (const id of ids) busy = this.deliver(id) > 0 || busy;
      if (!busy) return;
    }
    throw new Error("stabilize: no quiescence after 1000 rounds");
  }

  /** partition 1 / 2 3: nodes on different sides of a slash cannot talk. */
  private partition(args: string[]): void {
    this.groups.clear();
    let g = 0;
    for (const a of args) {
      if (a === "/") g++;
      else this.groups.set(Number(a), g);
    }
  }

  /** Snapshots node id at its applied index and compacts its log up to `index`. */
  private compact(id: NodeId, index: number): void {
    const n = this.get(id);
    const st = n.node.status();
    const cs = n.node.confStateAt(st.applied);
    n.storage.createSnapshot(st.applied, cs, enc.encode(n.applied.join(",")));
    n.storage.compact(index);
    this.log(`${id}: snapshot at ${st.applied}, log now starts at ${n.storage.firstIndex()}`);
  }

  private status(id: NodeId): void {
    const s = this.get(id).node.status();
    const h = s.hardState;
    this.log(
      `${id}: ${s.softState.state} term=${h.term} lead=${s.softState.lead} commit=${h.commit}` +
        ` applied=${s.applied} voters=${s.currentConfState.voters}` +
        ` learners=${s.currentConfState.learners}`,
    );
    for (const [pid, pr] of s.progress ?? []) {
      const learner = pr.isLearner ? " learner" : "";
      this.log(`  ${pid}: ${pr.state} match=${pr.match} next=${pr.next}${learner}`);
    }
  }

  private raftLog(id: NodeId): void {
    const n = this.get(id);
    const r = n.node.raft;
    const ents = r.log.slice(r.log.firstIndex(), r.log.lastIndex() + 1, Infinity);
    this.log(`${id}: log ${r.log.firstIndex()}..${r.log.lastIndex()} applied=[${n.applied}]`);
    if (ents.length > 0) this.log(`  ${ents.map(describeEntry).join(", ")}`);
  }
}
