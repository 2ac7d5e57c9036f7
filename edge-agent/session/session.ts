// The agent's MQTT session: one connection at a time to the first reachable broker of its list,
// failing over along the list with jittered exponential backoff (cap 30 s). On each connection:
// subscribe to the node's assign topic, publish hello (last applied assignment version and
// every task's current status: the resync), then heartbeats; status changes go out batched.
// The worker counts as online once a manager answers on the connection, not on connect, and
// stops when the leader's beacons stop (manager-liveness.ts): an external broker outlives them.
// It never interprets tasks: assignments go to the worker; bad payloads are dropped and counted.

import { freemem, loadavg, totalmem } from "node:os";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { TaskStatusUpdate } from "../../core/codec/index.ts";
import { decodeMessage, encodeMessage } from "../../core/codec/index.ts";
import { limits } from "../../core/limits.ts";
import { type Topics, topics } from "../../core/topics.ts";
import type { StatusSink } from "../worker/worker.ts";
import { backoffDelay } from "./backoff.ts";
import { brokerUrls, loadLearned, mergeBrokers, saveLearned } from "./brokers.ts";
import { ManagerLiveness } from "./manager-liveness.ts";
import type { SessionOptions, SessionTls } from "./session-options.ts";
import { diskFree, localAddr, statusPayloads } from "./session-wire.ts";

export type { SessionOptions, SessionTls, SessionWorker } from "./session-options.ts";
export { localAddr, statusPayloads } from "./session-wire.ts";

export class Session implements StatusSink {
  readonly #o: SessionOptions;
  readonly #t: Topics;
  #client: MqttClient | undefined;
  #broker: string | undefined;
  #index = 0;
  /** The cluster's heartbeat period, once an assignment said it. */
  #clusterPeriodMs: number | undefined;
  #brokers: string[];
  #learned: string[];
  #attempt = 0;
  #seq = 0;
  /** A manager answered on this connection (not just a broker with a retained assignment). */
  #managerSeen = false;
  readonly #liveness: ManagerLiveness;
  /** Fires when the managers' silence deadline passes. */
  #silence: NodeJS.Timeout | undefined;
  /** This connection may only re-enrol (reenrolling() was true when it was made). */
  #reenrolling = false;
  #stopped = true;
  #tls: SessionTls | undefined;
  /** The connection is being replaced for new TLS material: reconnect at once, same broker. */
  #swapping = false;
  #retry: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #flush: NodeJS.Timeout | undefined;
  readonly #pending = new Map<string, TaskStatusUpdate>();
  readonly #subs: Set<string>;
  readonly stats = {
    attempts: 0,
    connects: 0,
    badAssignments: 0,
    statusMessages: 0,
    beacons: 0,
    badBeacons: 0,
    managerSilences: 0,
  };

  constructor(o: SessionOptions) {
    if (o.brokers.length === 0) throw new Error("session: no broker given (--broker URL)");
    this.#o = o;
    this.#t = topics(o.clusterId);
    this.#tls = o.tls;
    this.#subs = new Set(o.subscriptions ?? []);
    this.#learned = o.brokersDir ? loadLearned(o.brokersDir) : [];
    this.#brokers = mergeBrokers(o.brokers, this.#learned);
    this.#liveness = new ManagerLiveness(o.now ?? Date.now, limits.agentManagerSilentPeriods);
  }

  /** The brokers tried, in order: the configured ones, then the learned ones. */
  get brokers(): readonly string[] {
    return this.#brokers;
  }

  /**
   * New TLS material (a renewed certificate): the connection is closed and made again at once
   * to the same broker with it. Containers and the worker are untouched; only the session
   * blinks (the hello on reconnect resyncs as after any reconnect).
   */
  updateTls(tls: SessionTls): void {
    this.#tls = { ...this.#tls, ...tls };
    const c = this.#client;
    if (!c || this.#stopped) return;
    this.#swapping = true;
    c.end(true);
  }

  /** Publishes on the current connection; false when there is none. */
  publish(topic: string, payload: Uint8Array, qos: 0 | 1 = 1, retain = false): boolean {
    const c = this.#client;
    if (!c || !this.#broker) return false;
    // Anything but the csr would cut a re-enrolment session (the broker refuses it).
    if (this.#reenrolling && topic !== this.#t.csr(this.#o.nodeId)) return false;
    c.publish(topic, Buffer.from(payload), { qos, retain });
    return true;
  }

  /** Subscribes a topic on the current connection (unless it may only re-enrol) and on every
   * later one. */
  subscribe(topic: string): void {
    if (this.#subs.has(topic)) return;
    this.#subs.add(topic);
    const c = this.#client;
    if (c && this.#broker && !this.#reenrolling) c.subscribe(topic, { qos: 1 });
  }

  /** Undoes subscribe() (or a topic of `subscriptions`): now and on later connections. */
  unsubscribe(topic: string): void {
    if (!this.#subs.delete(topic)) return;
    const c = this.#client;
    if (c && this.#broker && !this.#reenrolling) c.unsubscribe(topic);
  }

  /** The broker connected to now, if any. */
  get broker(): string | undefined {
    return this.#broker;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#down();
    const c = this.#client;
    this.#client = undefined;
    if (c) await new Promise<void>((r) => c.end(true, {}, () => r()));
  }

  /** StatusSink: coalesced per task (the latest state wins) and sent in batches. */
  report(update: TaskStatusUpdate): void {
    this.#pending.set(update.taskId, update);
    if (this.#broker && !this.#flush && !this.#reenrolling) {
      const ms = this.#o.statusIntervalMs ?? limits.statusBatchIntervalMs;
      this.#flush = setTimeout(() => this.#publishStatus(), ms);
    }
  }

  #options(): IClientOptions {
    // A fresh object per connect: MQTT.js writes into the options it is given.
    const o: IClientOptions = {
      clientId: `fleet-agent-${this.#o.nodeId}`,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: this.#o.connectTimeoutMs ?? limits.agentConnectTimeoutMs,
      keepalive: this.#o.keepaliveSec ?? 30,
      // mqtt-packet otherwise pre-builds 65,536 two-byte Buffers on the first write: ~6 MB of
      // heap, a tenth of the agent's RSS budget, to save an allocation per packet.
      writeCache: false,
    };
    const tls = this.#tls;
    if (tls) {
      // TLS 1.3 only: fleet's brokers speak nothing older, and Ed25519 certificates need it.
      Object.assign(o, { cert: tls.cert, key: tls.key, ca: tls.ca, minVersion: "TLSv1.3" });
      if (tls.servername) o.servername = tls.servername;
      o.rejectUnauthorized = tls.rejectUnauthorized ?? true;
    }
    return o;
  }

  #connect(): void {
    if (this.#stopped) return;
    const url = this.#brokers[this.#index % this.#brokers.length]!;
    this.stats.attempts++;
    const client = mqtt.connect(url, this.#options());
    this.#client = client;
    client.on("error", (err) => this.#o.log?.(`session: ${url}: ${err.message}`));
    client.once("connect", () => this.#up(client, url));
    client.on("message", (topic, payload, packet) => this.#message(topic, payload, packet.retain));
    client.once("close", () => this.#closed(client, url));
  }

  #closed(client: MqttClient, url: string): void {
    if (client !== this.#client) return;
    client.removeAllListeners("message");
    client.end(true);
    this.#client = undefined;
    if (this.#broker) {
      this.#o.log?.(`session: lost ${url}`);
      this.#down();
      this.#o.onDisconnected?.(url);
    }
    if (this.#stopped) return;
    if (this.#swapping) {
      this.#swapping = false;
      this.#retry = setTimeout(() => this.#connect(), 0);
      return;
    }
    this.#index++;
    const random = this.#o.random ?? Math.random;
    const delay = backoffDelay(
      this.#attempt++,
      {
        baseMs: this.#o.backoffBaseMs ?? limits.agentBackoffBaseMs,
        maxMs: this.#o.backoffMaxMs ?? limits.agentBackoffMaxMs,
      },
      random,
    );
    this.#retry = setTimeout(() => this.#connect(), delay);
  }

  #up(client: MqttClient, url: string): void {
    this.#broker = url;
    this.#attempt = 0;
    this.stats.connects++;
    if (this.#o.reenrolling?.()) {
      this.#reenrolling = true;
      this.#o.log?.(`session: connected to ${url} to re-enrol only (certificate expired)`);
      const ready = () => this.#o.onReady?.({ reenrolling: true });
      const only = this.#o.reenrolTopics ?? [];
      if (only.length === 0) ready();
      else client.subscribe(only, { qos: 1 }, ready);
      return;
    }
    this.#o.log?.(`session: connected to ${url}`);
    this.#liveness.reset();
    const own = [this.#t.assign(this.#o.nodeId), this.#t.beacon];
    client.subscribe([...own, ...this.#subs], { qos: 1 }, () =>
      this.#o.onReady?.({ reenrolling: false }),
    );
    this.#hello(client);
    this.#heartbeat = setInterval(() => this.#beat(), this.heartbeatPeriodMs);
    this.#o.onConnected?.(url);
  }

  /** Beats at least as often as configured and as the cluster asks (a manager calls a node
   * down after a few missed periods of its own). */
  get heartbeatPeriodMs(): number {
    const own = this.#o.heartbeatPeriodMs ?? limits.heartbeatPeriodMsDefault;
    return Math.min(own, this.#clusterPeriodMs ?? own);
  }

  #clusterPeriod(ms: number): void {
    const before = this.heartbeatPeriodMs;
    this.#clusterPeriodMs = ms;
    if (this.heartbeatPeriodMs === before || !this.#heartbeat) return;
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => this.#beat(), this.heartbeatPeriodMs);
    this.#o.log?.(`session: heartbeat every ${this.heartbeatPeriodMs} ms (the cluster's period)`);
  }

  #down(): void {
    this.#broker = undefined;
    this.#managerSeen = false;
    this.#reenrolling = false;
    clearTimeout(this.#silence);
    this.#silence = undefined;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#flush);
    this.#heartbeat = undefined;
    this.#flush = undefined;
    this.#o.worker.setOnline(false);
  }

  #hello(client: MqttClient): void {
    const w = this.#o.worker;
    // The hello carries every task's current status: it supersedes what was queued offline.
    this.#pending.clear();
    const tasks = w.statuses().slice(0, limits.statusBatchItemsMax);
    const body = {
      nodeId: this.#o.nodeId,
      description: this.#o.describe(),
      assignVersion: w.assignVersion,
      agentVersion: this.#o.agentVersion,
      ...(tasks.length > 0 ? { tasks } : {}),
      ...localAddr(client),
    };
    client.publish(this.#t.hello(this.#o.nodeId), Buffer.from(encodeMessage("hello", body)), {
      qos: 1,
    });
  }

  #beat(): void {
    const c = this.#client;
    if (!c || !this.#broker) return;
    // Until a manager answers, repeat the hello: it is lost when no leader's dispatcher was
    // listening yet (a cluster starting, a leader change), and heartbeats from a node the
    // dispatcher never heard say hello are dropped.
    if (!this.#managerSeen) this.#hello(c);
    const body = {
      seq: ++this.#seq,
      load1: loadavg()[0] ?? 0,
      memoryUsedBytes: totalmem() - freemem(),
      containers: this.#o.worker.runningCount(),
      ...diskFree(this.#o.diskPath),
    };
    c.publish(this.#t.heartbeat(this.#o.nodeId), Buffer.from(encodeMessage("heartbeat", body)), {
      qos: 0,
    });
  }

  #publishStatus(): void {
    this.#flush = undefined;
    const c = this.#client;
    if (!c || !this.#broker || this.#reenrolling) return;
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (let at = 0; at < all.length; at += limits.statusBatchItemsMax) {
      for (const bytes of statusPayloads(all.slice(at, at + limits.statusBatchItemsMax))) {
        c.publish(this.#t.status(this.#o.nodeId), Buffer.from(bytes), { qos: 1 });
        this.stats.statusMessages++;
      }
    }
  }

  #message(topic: string, payload: Buffer, retained: boolean): void {
    if (topic === this.#t.beacon) {
      this.#beacon(payload, retained);
      return;
    }
    if (topic !== this.#t.assign(this.#o.nodeId)) {
      this.#o.onMessage?.(topic, payload);
      return;
    }
    const d = decodeMessage(payload, "assign");
    if (!d.ok) {
      this.stats.badAssignments++;
      this.#o.log?.(`session: assignment dropped: ${d.error.message}`);
      return;
    }
    const { version, tasks, brokers } = d.message;
    this.#o.worker.setAssignment({ version, tasks });
    if (brokers) this.#learn(brokers);
    if (d.message.heartbeatPeriodMs) this.#clusterPeriod(d.message.heartbeatPeriodMs);
    this.#o.onAssignment?.(d.message);
    // A live assignment (the answer to our hello, or a change) proves a manager is there; a
    // retained one only proves the broker is [MQTT-3.3.1-9: live deliveries carry retain 0].
    if (!retained) {
      this.#liveness.heard();
      this.#managerHeard();
    }
  }

  /** The leader's beacon: a manager is there, and says how often it will say so again. */
  #beacon(payload: Buffer, retained: boolean): void {
    // Managers never retain it; a retained one only proves the broker.
    if (retained || !this.#broker || this.#reenrolling) return;
    const d = decodeMessage(payload, "beacon");
    if (!d.ok) {
      this.stats.badBeacons++;
      return;
    }
    this.stats.beacons++;
    this.#liveness.beacon(d.message.periodMs);
    // A beacon proves a leader, not that its dispatcher knows this node: until a manager has
    // answered our hello (a live assignment) the hellos go on, and only that answer makes the
    // worker online. Once it has, beacons keep the silence deadline moving.
    if (this.#managerSeen) this.#managerHeard();
  }

  /** A manager was heard on this connection: online, and the silence deadline moves on. */
  #managerHeard(): void {
    if (!this.#managerSeen) {
      this.#managerSeen = true;
      this.#o.worker.setOnline(true);
      // The resync must reach a dispatcher: the hello may have reached none (a leader starting
      // publishes every assignment, which looks like an answer), so every task's status goes
      // out once more as a status batch; statuses the manager already has are no-ops there.
      for (const u of this.#o.worker.statuses()) if (u.timestamp > 0) this.report(u);
    }
    clearTimeout(this.#silence);
    const deadline = this.#liveness.deadline();
    if (deadline === undefined) return;
    const now = (this.#o.now ?? Date.now)();
    this.#silence = setTimeout(() => this.#checkSilence(), Math.max(0, deadline - now) + 1);
  }

  /** No manager heard for the beacon's periods: not online until one is (hellos resume). */
  #checkSilence(): void {
    this.#silence = undefined;
    if (!this.#managerSeen || !this.#liveness.silent()) return;
    this.#managerSeen = false;
    this.stats.managerSilences++;
    this.#o.log?.("session: no manager heard (beacons stopped): not online");
    this.#o.worker.setOnline(false);
  }

  /** The managers' broker addresses, from an assignment: kept, and tried after the configured. */
  #learn(addrs: string[]): void {
    const dir = this.#o.brokersDir;
    if (!dir) return;
    const scheme = this.#o.brokers[0]?.startsWith("mqtts:") ? "mqtts" : "mqtt";
    const urls = brokerUrls(addrs, scheme);
    if (urls.length === 0 || urls.join(" ") === this.#learned.join(" ")) return;
    this.#learned = urls;
    try {
      saveLearned(dir, urls);
    } catch (err) {
      this.#o.log?.(`session: learned brokers not saved: ${String(err)}`);
    }
    const current = this.#brokers[this.#index % this.#brokers.length];
    const next = mergeBrokers(this.#o.brokers, urls);
    if (next.join(" ") === this.#brokers.join(" ")) return;
    this.#brokers = next;
    this.#index = Math.max(0, next.indexOf(current ?? ""));
    this.#o.log?.(`session: brokers ${next.join(" ")}`);
  }
}
