// External broker mode (`--broker mqtts://host:port`): the manager runs no broker of its own and
// every MQTT conversation it has goes through that broker with its manager certificate. Two
// pieces: `waitForBroker`, which keeps trying (with backoff, logged) until the broker admits a
// session, for as long as it takes or until the caller gives up; and `ExternalLink`, one
// manager-wide bus (service logs, for any manager the operator talks to) that connects in the
// background and recovers by itself when the broker comes back.

import mqtt, { type IClientOptions } from "mqtt";
import type { LogBus } from "../api/logs.ts";
import { MqttBus } from "../dispatcher/mqtt-bus.ts";
import type { Logger } from "../log.ts";

/** Delay before retry `attempt` (0-based): 1 s doubling to `maxMs`, ±20 % jitter. */
export function retryDelayMs(attempt: number, maxMs = 30_000, random = Math.random): number {
  const base = Math.min(maxMs, 1000 * 2 ** Math.min(attempt, 16));
  return Math.round(base * (0.8 + 0.4 * random()));
}

export interface WaitOptions {
  url: string;
  clientId: string;
  /** TLS material (read at every attempt: a renewed certificate is used). */
  mqtt?: () => IClientOptions;
  log: Logger;
  signal?: AbortSignal;
  maxDelayMs?: number;
}

function aborted(signal?: AbortSignal): Error {
  return signal?.reason instanceof Error ? signal.reason : new Error("stopped");
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted(signal));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** One CONNECT without retries: resolves once the broker admitted the session. */
async function probe(o: WaitOptions): Promise<void> {
  const client = await mqtt.connectAsync(
    o.url,
    {
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...(o.mqtt?.() ?? {}),
      clientId: `${o.clientId}-probe`,
    },
    false,
  );
  await client.endAsync(true);
}

/**
 * Resolves once the broker admits a session; until then retries forever (1 s doubling to
 * 30 s), logging the first failure, every change of reason and each attempt once the delay has
 * reached its cap. Rejects only when `signal` aborts.
 */
export async function waitForBroker(o: WaitOptions): Promise<void> {
  let last = "";
  for (let attempt = 0; ; attempt++) {
    if (o.signal?.aborted) throw aborted(o.signal);
    try {
      await probe(o);
      if (attempt > 0) o.log.info("broker reachable again", { url: o.url, attempts: attempt + 1 });
      return;
    } catch (err) {
      const why = (err as Error).message;
      const delay = retryDelayMs(attempt, o.maxDelayMs);
      if (attempt === 0 || why !== last || delay >= (o.maxDelayMs ?? 30_000) * 0.8)
        o.log.warn("broker unreachable; retrying", {
          url: o.url,
          attempt: attempt + 1,
          retryInMs: delay,
          err: why,
        });
      last = why;
      await sleep(delay, o.signal);
    }
  }
}

/** Connects an MqttBus once the broker admits sessions (waitForBroker first). */
export async function connectExternal(o: WaitOptions): Promise<MqttBus> {
  for (let attempt = 0; ; attempt++) {
    await waitForBroker(o);
    try {
      return await MqttBus.connect({
        url: o.url,
        clientId: o.clientId,
        ...(o.mqtt ? { refresh: o.mqtt } : {}),
      });
    } catch (err) {
      // The broker went away between the probe and the bus: wait for it again.
      o.log.warn("broker session failed; retrying", { url: o.url, err: (err as Error).message });
      await sleep(retryDelayMs(attempt, o.maxDelayMs), o.signal);
    }
  }
}

/**
 * A manager's own session on the external broker, for what any manager does over MQTT (asking
 * agents for service logs). Connects in the background; callers wait up to `readyTimeoutMs`
 * for it, then get a clear error naming the broker.
 */
export class ExternalLink implements LogBus {
  readonly #abort = new AbortController();
  readonly #ready: Promise<MqttBus>;
  #bus: MqttBus | undefined;

  constructor(
    readonly o: Omit<WaitOptions, "signal">,
    readonly readyTimeoutMs = 10_000,
  ) {
    this.#ready = connectExternal({ ...o, signal: this.#abort.signal }).then((b) => {
      this.#bus = b;
      return b;
    });
    this.#ready.catch(() => {});
  }

  get connected(): boolean {
    return this.#bus?.connected ?? false;
  }

  async #wait(): Promise<MqttBus> {
    if (this.#bus) return this.#bus;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the external broker ${this.o.url} is unreachable`)),
        this.readyTimeoutMs,
      );
    });
    try {
      return await Promise.race([this.#ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async publish(topic: string, payload: Buffer, opts?: { qos?: 0 | 1 }): Promise<void> {
    const bus = await this.#wait();
    await bus.publish(topic, payload, { qos: opts?.qos ?? 0, retain: false });
  }

  async subscribe(
    filter: string,
    handler: (m: { topic: string; payload: Buffer }) => void,
  ): Promise<() => Promise<void>> {
    const bus = await this.#wait();
    const sub = await bus.subscribe(filter, (topic, payload) =>
      handler({
        topic,
        payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
      }),
    );
    return () => sub.unsubscribe();
  }

  async close(): Promise<void> {
    this.#abort.abort(new Error("the manager is stopping"));
    await this.#bus?.close().catch(() => {});
  }
}
