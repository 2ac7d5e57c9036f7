// The replicated state machine of the simulator: a key-value map with put and compare-and-set,
// and at-most-once execution per client request (a retried request returns its first result).

const enc = new TextEncoder();
const dec = new TextDecoder();

export type KvOp =
  | { kind: "put"; key: string; value: string }
  | { kind: "cas"; key: string; expect: string | null; value: string }
  | { kind: "get"; key: string };

export interface KvCommand {
  client: number;
  seq: number;
  op: KvOp;
}

/** put: null; cas: whether it swapped; get: the value (null when absent). */
export type KvResult = string | boolean | null;

export function encodeCommand(c: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(dec.decode(data)) as KvCommand;
}

export class Kv {
  private data = new Map<string, string>();
  /** Per client: the last sequence number applied and its result. */
  private sessions = new Map<number, { seq: number; result: KvResult }>();

  apply(c: KvCommand): KvResult {
    const s = this.sessions.get(c.client);
    if (s && s.seq >= c.seq) return s.seq === c.seq ? s.result : null; // duplicate
    const result = this.execute(c.op);
    this.sessions.set(c.client, { seq: c.seq, result });
    return result;
  }

  execute(op: KvOp): KvResult {
    switch (op.kind) {
      case "put":
        this.data.set(op.key, op.value);
        return null;
      case "cas": {
        const cur = this.data.get(op.key) ?? null;
        if (cur !== op.expect) return false;
        this.data.set(op.key, op.value);
        return true;
      }
      case "get":
        return this.data.get(op.key) ?? null;
    }
  }

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify({ data: [...this.data], sessions: [...this.sessions] }));
  }

  static restore(bytes: Uint8Array): Kv {
    const kv = new Kv();
    if (bytes.length === 0) return kv; // the bootstrap snapshot: empty state
    const s = JSON.parse(dec.decode(bytes)) as {
      data: [string, string][];
      sessions: [number, { seq: number; result: KvResult }][];
    };
    kv.data = new Map(s.data);
    kv.sessions = new Map(s.sessions);
    return kv;
  }
}
