// The simulated clients: each runs one key-value operation at a time against some manager,
// retries on timeout with the same request id (the state machine deduplicates), and records
// invocations and responses for the linearizability checker. Reads are linearizable through
// ReadIndex: answered by the contacted node once it has applied up to the read index (§6.4).

import { type Entry, isRaftError, type NodeId, type ReadState } from "../../core/raft/index.ts";
import type { Rng } from "../../core/rand.ts";
import { encodeCommand, type KvCommand, type KvOp, type KvResult } from "./kv.ts";
import type { Operation } from "./linearizability.ts";
import type { SimNode } from "./node.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Pending {
  cmd: KvCommand;
  history: Operation;
  target: NodeId;
  attempt: number;
  deadline: number;
  /** Reads: the context of the current attempt and, once known, its read index. */
  ctx?: string;
  readIndex?: number;
}

export interface Acked {
  index: number;
  term: number;
}

export class Clients {
  readonly history: Operation[] = [];
  readonly acked: Acked[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly seqs: number[];
  private events = 0;
  completed = 0;

  constructor(
    private readonly rng: Rng,
    readonly count: number,
    private readonly keys: string[],
    private readonly retryTicks: number,
    /** Self-test only: answer reads from the contacted node's state, skipping ReadIndex. */
    private readonly staleReads = false,
  ) {
    this.seqs = new Array(count).fill(0);
  }

  get busy(): number {
    return this.pending.size;
  }

  /** Starts new operations (when `start`) and retries timed-out ones. */
  act(now: number, nodes: SimNode[], start: boolean): void {
    const up = nodes.filter((n) => n.up);
    for (let c = 0; c < this.count; c++) {
      const p = this.pending.get(c);
      if (p && now >= p.deadline) this.submit(p, now, up);
      else if (!p && start && this.rng.int(4) === 0) this.begin(c, now, up);
    }
  }

  private begin(client: number, now: number, up: SimNode[]): void {
    const key = this.keys[this.rng.int(this.keys.length)]!;
    const seq = ++this.seqs[client]!;
    const value = `${client}.${seq}`;
    const roll = this.rng.int(10);
    let op: KvOp;
    if (roll < 4) op = { kind: "put", key, value };
    else if (roll < 7) op = { kind: "get", key };
    else op = { kind: "cas", key, expect: this.guess(key), value };
    const history: Operation = { key, op: linOp(op), invoke: this.events++, respond: Infinity };
    this.history.push(history);
    const p: Pending = { cmd: { client, seq, op }, history, target: 0, attempt: 0, deadline: 0 };
    this.pending.set(client, p);
    this.submit(p, now, up);
  }

  /** A value cas might expect: the latest one written to the key, or absent. */
  private guess(key: string): string | null {
    for (let i = this.history.length - 1; i >= 0; i--) {
      const h = this.history[i]!;
      if (h.key === key && h.op.kind !== "get" && this.rng.int(3) > 0) return h.op.value;
    }
    return null;
  }

  private submit(p: Pending, now: number, up: SimNode[]): void {
    p.attempt++;
    p.deadline = now + this.retryTicks;
    p.readIndex = undefined;
    if (up.length === 0) return;
    const leader = up.find((n) => n.raft?.state === "leader");
    const node = leader && this.rng.int(3) > 0 ? leader : up[this.rng.int(up.length)]!;
    p.target = node.id;
    try {
      if (p.cmd.op.kind === "get" && this.staleReads) {
        this.finish(p, node.kv.get(p.cmd.op.key));
      } else if (p.cmd.op.kind === "get") {
        p.ctx = `${p.cmd.client}:${p.cmd.seq}:${p.attempt}`;
        node.raft!.readIndex(enc.encode(p.ctx));
      } else {
        node.raft!.propose(encodeCommand(p.cmd));
      }
    } catch (err) {
      if (!isRaftError(err, "proposalDropped")) throw err;
      p.deadline = now + 1; // refused at once: try elsewhere soon
    }
  }

  onApplied(node: SimNode, e: Entry, cmd: KvCommand, result: KvResult): void {
    const p = this.pending.get(cmd.client);
    if (!p || p.cmd.seq !== cmd.seq || p.target !== node.id) return;
    this.acked.push({ index: e.index, term: e.term });
    this.finish(p, result);
  }

  onReadState(node: SimNode, rs: ReadState): void {
    const ctx = dec.decode(rs.context);
    for (const p of this.pending.values()) {
      if (p.ctx === ctx && p.target === node.id) p.readIndex = rs.index;
    }
  }

  /** Answers reads whose node has applied up to their read index. */
  pollReads(node: SimNode): void {
    for (const p of this.pending.values()) {
      if (p.target !== node.id || p.readIndex === undefined || node.applied < p.readIndex) continue;
      if (p.cmd.op.kind === "get") this.finish(p, node.kv.get(p.cmd.op.key));
    }
  }

  private finish(p: Pending, result: KvResult): void {
    p.history.respond = this.events++;
    p.history.output = result;
    this.pending.delete(p.cmd.client);
    this.completed++;
  }

  /** Requests may be resubmitted now (the network healed, nodes restarted). */
  expireAll(now: number): void {
    for (const p of this.pending.values()) p.deadline = Math.min(p.deadline, now);
  }
}

function linOp(op: KvOp): Operation["op"] {
  if (op.kind === "put") return { kind: "put", value: op.value };
  if (op.kind === "cas") return { kind: "cas", expect: op.expect, value: op.value };
  return { kind: "get" };
}
