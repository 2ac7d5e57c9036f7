// The dispatcher's view of MQTT: publish and subscribe, nothing more. The real one is an MQTT.js
// client (mqtt-bus.ts) pointed at the embedded broker mesh or an external broker; MemoryBus is a
// broker-in-a-map for unit tests. Both follow MQTT's rules for what tests rely on: `+`/`#`
// filters, retained messages delivered on subscribe, an empty retained payload clearing one.

import { topicMatches } from "../../core/topics.ts";

export interface PublishOptions {
  qos: 0 | 1;
  retain: boolean;
}

export type MessageHandler = (topic: string, payload: Uint8Array) => void;

export interface Subscription {
  unsubscribe(): Promise<void>;
}

export interface Bus {
  /** Resolves once the message is handed to the broker (QoS 1: acknowledged by it). */
  publish(topic: string, payload: Uint8Array | string, opts: PublishOptions): Promise<void>;
  /** Resolves once the broker granted the subscription; retained matches then arrive. */
  subscribe(filter: string, handler: MessageHandler): Promise<Subscription>;
  close(): Promise<void>;
}

export function toBytes(payload: Uint8Array | string): Uint8Array {
  return typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
}

interface Sub {
  filter: string;
  handler: MessageHandler;
}

/** An in-process broker shared by every MemoryBus client made from it. */
export class MemoryBroker {
  readonly #subs = new Set<Sub>();
  readonly #retained = new Map<string, Uint8Array>();
  /** Messages published, in order (for assertions). */
  readonly log: { topic: string; payload: Uint8Array; opts: PublishOptions }[] = [];

  client(): MemoryBus {
    return new MemoryBus(this);
  }

  retained(topic: string): Uint8Array | undefined {
    return this.#retained.get(topic);
  }

  retainedTopics(filter = "#"): string[] {
    return [...this.#retained.keys()].filter((t) => topicMatches(filter, t)).sort();
  }

  /** @internal */
  publish(topic: string, payload: Uint8Array, opts: PublishOptions): void {
    this.log.push({ topic, payload, opts });
    if (opts.retain) {
      if (payload.length === 0) this.#retained.delete(topic);
      else this.#retained.set(topic, payload);
    }
    const targets = [...this.#subs].filter((s) => topicMatches(s.filter, topic));
    // Delivered later, as a network would: a handler never runs inside the publisher's call.
    queueMicrotask(() => {
      for (const s of targets) if (this.#subs.has(s)) s.handler(topic, payload);
    });
  }

  /** @internal */
  subscribe(sub: Sub): void {
    this.#subs.add(sub);
    const retained = [...this.#retained].filter(([t]) => topicMatches(sub.filter, t));
    queueMicrotask(() => {
      for (const [t, p] of retained) if (this.#subs.has(sub)) sub.handler(t, p);
    });
  }

  /** @internal */
  unsubscribe(sub: Sub): void {
    this.#subs.delete(sub);
  }
}

export class MemoryBus implements Bus {
  readonly #subs = new Set<Sub>();
  #closed = false;

  constructor(readonly broker: MemoryBroker) {}

  async publish(topic: string, payload: Uint8Array | string, opts: PublishOptions): Promise<void> {
    if (this.#closed) throw new Error("bus: publish on a closed bus");
    this.broker.publish(topic, toBytes(payload), opts);
  }

  async subscribe(filter: string, handler: MessageHandler): Promise<Subscription> {
    if (this.#closed) throw new Error("bus: subscribe on a closed bus");
    const sub = { filter, handler };
    this.#subs.add(sub);
    this.broker.subscribe(sub);
    return {
      unsubscribe: async () => {
        this.#subs.delete(sub);
        this.broker.unsubscribe(sub);
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#subs) this.broker.unsubscribe(s);
    this.#subs.clear();
  }
}
