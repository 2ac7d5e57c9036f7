// A minimal in-memory cluster for unit tests that need real message exchange: every node
// persists to a MemoryStorage and the test decides which messages are delivered.

import {
  bootstrapState,
  type ConfState,
  MemoryStorage,
  type Message,
  type NodeId,
  RawNode,
  type Ready,
} from "../../core/raft/index.ts";
import type { RaftConfig } from "../../core/raft/raft.ts";
import { createRng } from "../../core/rand.ts";

export interface Member {
  node: RawNode;
  storage: MemoryStorage;
  readies: Ready[];
}

export class Cluster {
  readonly members = new Map<NodeId, Member>();
  readonly sent: Message[] = [];
  private inbox: Message[] = [];
  /** Return false to drop a message. */
  filter: (m: Message) => boolean = () => true;

  constructor(conf: ConfState | number, extra: Partial<RaftConfig> = {}) {
    const cs = typeof conf === "number" ? { voters: range(conf), learners: [] } : conf;
    for (const id of [...cs.voters, ...cs.learners]) {
      const storage = new MemoryStorage();
      const b = bootstrapState(cs.voters);
      storage.applySnapshot({ ...b.snapshot, metadata: { ...b.snapshot.metadata, confState: cs } });
      storage.setHardState(b.hardState);
      this.add(id, storage, extra);
    }
  }

  add(id: NodeId, storage: MemoryStorage, extra: Partial<RaftConfig> = {}): RawNode {
    const node = new RawNode({ id, storage, rng: createRng(id), ...extra });
    this.members.set(id, { node, storage, readies: [] });
    return node;
  }

  get(id: NodeId): RawNode {
    return this.members.get(id)!.node;
  }

  /** Persists, sends and "applies" every pending Ready of every node. */
  processReadies(): boolean {
    let any = false;
    for (const m of this.members.values()) {
      while (m.node.hasReady()) {
        any = true;
        const rd = m.node.ready();
        m.readies.push(rd);
        if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
        m.storage.append(rd.entries);
        if (rd.hardState) m.storage.setHardState(rd.hardState);
        for (const msg of rd.messages) {
          this.sent.push(msg);
          if (this.filter(msg)) this.inbox.push(msg);
        }
        m.node.advance(rd);
      }
    }
    return any;
  }

  deliver(): boolean {
    const msgs = this.inbox;
    this.inbox = [];
    for (const m of msgs) this.members.get(m.to)?.node.step(m);
    return msgs.length > 0;
  }

  stabilize(): void {
    for (let i = 0; i < 10_000; i++) {
      const a = this.processReadies();
      const b = this.deliver();
      if (!a && !b) return;
    }
    throw new Error("no quiescence");
  }

  elect(id: NodeId): void {
    this.get(id).campaign();
    this.stabilize();
  }
}

function range(n: number): NodeId[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
