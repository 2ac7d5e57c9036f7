// Test support for the broker and the mesh: brokers on ephemeral loopback ports, MQTT.js
// clients that record what they receive, and bounded waits. Every wait has a deadline and
// every helper returns something the test closes.

import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { Broker, type BrokerOptions } from "./broker.ts";
import { Mesh, type MeshReport } from "./mesh.ts";

export const SECRET = "test-mesh-secret";

/** Polls until the condition holds; fails naming what it waited for. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

export interface Recorder {
  client: MqttClient;
  got: Received[];
  count(topic: string, payload?: string): number;
  close(): Promise<void>;
}

/** Connects an MQTT.js client (options copied: mqtt.connect writes a clientId into them). */
export async function connect(url: string, opts: IClientOptions = {}): Promise<Recorder> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
  const got: Received[] = [];
  client.on("message", (topic, payload, packet) => {
    got.push({ topic, payload: payload.toString(), retain: packet.retain });
  });
  client.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve());
    client.once("close", () => reject(new Error(`could not connect to ${url}`)));
  });
  return {
    client,
    got,
    count: (topic, payload) =>
      got.filter((m) => m.topic === topic && (payload === undefined || m.payload === payload))
        .length,
    close: async () => {
      await client.endAsync(true).catch(() => undefined);
    },
  };
}

/** The SUBACK return codes for these filters (128 = refused), in order. */
export async function subscribeCodes(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    const granted = await client.subscribeAsync(filters, { qos: 1 });
    return granted.map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw err;
    return packet.granted;
  }
}

export interface Node {
  id: string;
  broker: Broker;
  mesh: Mesh;
  reports: MeshReport[];
}

/** Starts a broker with a mesh attached (no peers yet). */
export async function startNode(
  id: string,
  port = 0,
  extra: Partial<BrokerOptions> = {},
): Promise<Node> {
  const broker = await Broker.start({ id, port, meshSecret: SECRET, ...extra });
  const reports: MeshReport[] = [];
  const mesh = new Mesh({ broker, secret: SECRET, report: (r) => reports.push(r) });
  return { id, broker, mesh, reports };
}

/** Points every node's mesh at all the others. */
export function wire(nodes: Node[]): void {
  const peers = nodes.map((n) => ({ id: n.id, url: n.broker.url }));
  for (const n of nodes) n.mesh.setPeers(peers);
}

/** True once every node has a connected link to each of the others and has synced. */
export function meshUp(nodes: Node[]): boolean {
  return nodes.every((n) => {
    const links = n.mesh.stats().links;
    return links.length === nodes.length - 1 && links.every((l) => l.connected);
  });
}

export async function stopNode(n: Node): Promise<void> {
  await n.mesh.close();
  await n.broker.close();
}

export interface CutProxy {
  url: string;
  /** Destroys every connection through the proxy (both sides see a reset). */
  cut(): number;
  /** While held, bytes from the broker back to the client are dropped (acks get lost). */
  holdReplies(hold: boolean): void;
  close(): Promise<void>;
}

/** A TCP proxy to a broker whose connections a test can cut, to fault a mesh link. */
export async function cutProxy(targetPort: number): Promise<CutProxy> {
  const { createServer, connect: tcp } = await import("node:net");
  const pairs = new Set<{ destroy(): void }>();
  let holding = false;
  const server = createServer((down) => {
    const up = tcp(targetPort, "127.0.0.1");
    const pair = {
      destroy: () => {
        down.destroy();
        up.destroy();
      },
    };
    pairs.add(pair);
    down.on("error", pair.destroy).on("close", () => pairs.delete(pair));
    up.on("error", pair.destroy).on("close", pair.destroy);
    down.pipe(up);
    up.on("data", (chunk: Buffer) => {
      if (!holding) down.write(chunk);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    cut: () => {
      const n = pairs.size;
      for (const p of [...pairs]) p.destroy();
      return n;
    },
    holdReplies: (hold) => {
      holding = hold;
    },
    close: async () => {
      for (const p of [...pairs]) p.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Everything a test file starts, closed in reverse order by one `after(() => scope.close())`. */
export class Scope {
  readonly #fns: (() => Promise<void>)[] = [];

  defer(...fns: (() => Promise<void>)[]): void {
    this.#fns.push(...fns);
  }

  async close(): Promise<void> {
    for (const fn of this.#fns.splice(0).reverse()) await fn();
  }

  /** Brokers with meshes, wired into a full mesh, every link up. */
  async cluster(ids = ["a", "b", "c"]): Promise<Node[]> {
    const nodes: Node[] = [];
    for (const id of ids) {
      const n = await startNode(id);
      nodes.push(n);
      this.defer(() => stopNode(n));
    }
    wire(nodes);
    await waitFor(() => meshUp(nodes), "every link up");
    return nodes;
  }

  async client(url: string, clientId: string): Promise<Recorder> {
    const r = await connect(url, { clientId });
    this.defer(() => r.close());
    return r;
  }
}
