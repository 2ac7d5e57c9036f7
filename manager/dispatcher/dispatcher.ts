// The dispatcher: the leader's side of every node session (SwarmKit's dispatcher over MQTT).
// It turns device uplinks into store writes (registration, liveness verdicts, batched task
// status) and store changes into downlinks (assignments) and operator topics. It runs on the
// leader only: start() when leadership is won, stop() when it is lost. It never calls another
// component; it reads and writes the store and reacts to its watch events.
//
// It must never write per heartbeat (liveness is kept in memory), never let one device's bad
// input cost more than that message, and never publish an assignment version lower than one
// already published.

import { limits } from "../../core/limits.ts";
import type { Node, Task } from "../../core/model/index.ts";
import { by, type StoreEvent, type StoreWriter, type Watcher } from "../../core/store/index.ts";
import { type Topics, topics as topicsFor } from "../../core/topics.ts";
import { AssignmentPublisher, nodesChangedBy } from "./assignments.ts";
import { WriteBatcher } from "./batcher.ts";
import { Beacon } from "./beacon.ts";
import type { Bus, Subscription } from "./bus.ts";
import { type Clock, realClock, type Timer } from "./clock.ts";
import { handleUplink, type UplinkContext } from "./handlers.ts";
import { Liveness, type LivenessTiming } from "./liveness.ts";
import { type DropReason, Drops, type Logger, stderrLogger } from "./log.ts";
import { OperatorTopics } from "./operator.ts";

export interface DispatcherOptions {
  writer: StoreWriter;
  bus: Bus;
  clusterId: string;
  /** This manager's id, named in the leader event. */
  managerId?: string;
  clock?: Clock;
  logger?: Logger;
  /** Create a node on hello from an id the store lacks (until the CA enrols nodes). */
  registerUnknownNodes?: boolean;
}

export interface DispatcherStats {
  running: boolean;
  leaderSince: number | undefined;
  sessions: number;
  hellos: number;
  heartbeats: number;
  statusMessages: number;
  statusAccepted: number;
  statusUnchanged: number;
  tasksWritten: number;
  storeWrites: number;
  nodesDown: number;
  nodesRecovered: number;
  assignmentsPublished: number;
  operatorPublished: number;
  beacons: number;
  dropped: Record<DropReason, number>;
}

interface Running {
  ctx: UplinkContext;
  operator: OperatorTopics;
  watcher: Watcher;
  subs: Subscription[];
  sweep: Timer | undefined;
  loop: Promise<void>;
  /** The manager liveness beacon, every heartbeat period while this dispatcher runs. */
  beacon: Beacon;
}

export class Dispatcher {
  readonly #opts: Required<Omit<DispatcherOptions, "clock" | "logger">>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #topics: Topics;
  readonly #drops: Drops;
  #run: Running | undefined;
  #leaderSince: number | undefined;
  #nodesDown = 0;

  constructor(opts: DispatcherOptions) {
    this.#opts = { managerId: "manager", registerUnknownNodes: true, ...opts };
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.logger ?? stderrLogger;
    this.#topics = topicsFor(opts.clusterId);
    this.#drops = new Drops(this.#clock, this.#log);
  }

  /** When this dispatcher became the leader's, or undefined while stopped. */
  get leaderSince(): number | undefined {
    return this.#leaderSince;
  }

  /** Takes over the node sessions: call when this manager becomes the leader. */
  async start(): Promise<void> {
    if (this.#run) return;
    const { writer, bus, managerId } = this.#opts;
    const store = writer.store;
    const now = this.#clock.now();
    this.#leaderSince = now;
    const { result, watcher } = store.viewAndWatch((tx) => ({
      nodes: tx.find("nodes"),
      cluster: tx.find("clusters")[0],
      index: store.index,
    }));
    const liveness = new Liveness(timingOf(result.cluster?.spec));
    this.#seed(liveness, result.nodes, now);
    const ctx = this.#context(liveness, result.index);
    const operator = new OperatorTopics({ ...this.#deps(), store });
    const run: Running = {
      ctx,
      operator,
      watcher,
      subs: [],
      sweep: undefined,
      loop: Promise.resolve(),
      beacon: new Beacon({
        bus,
        topic: this.#topics.beacon,
        managerId,
        clock: this.#clock,
        periodMs: () => liveness.timing.periodMs,
      }),
    };
    this.#run = run;
    run.loop = this.#watchLoop(run);
    this.#armSweep(run);
    operator.leader("elected", managerId, now);
    try {
      for (const filter of this.#topics.uplinkFilters.filter((f) => !f.endsWith("/csr"))) {
        run.subs.push(await bus.subscribe(filter, (t, p) => this.#onMessage(run, t, p)));
      }
      await this.#publishAll(run, result.nodes);
      if (this.#run === run) run.beacon.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#log.info("dispatcher started", { nodes: result.nodes.length, index: result.index });
  }

  /** Gives the sessions up (leadership lost or shutdown): queued writes are attempted once. */
  async stop(): Promise<void> {
    const run = this.#run;
    if (!run) return;
    this.#run = undefined;
    run.beacon.stop();
    // Best effort: a manager that lost leadership may have lost the broker too.
    run.operator.leader("stepped-down", this.#opts.managerId, this.#leaderSince ?? 0);
    this.#leaderSince = undefined;
    run.sweep?.cancel();
    run.watcher.close("dispatcher stopped");
    run.operator.stop();
    run.ctx.assignments.stop();
    await Promise.allSettled(run.subs.map((s) => s.unsubscribe()));
    await this.#bounded(run.ctx.batcher.drain(), limits.dispatcherStopDrainMs);
    run.ctx.batcher.stop();
    await run.loop;
  }

  /** Waits for `p` at most `ms` (a deposed leader's writes may never resolve). */
  async #bounded(p: Promise<unknown>, ms: number): Promise<void> {
    let timer: Timer | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = this.#clock.setTimer(ms, resolve);
    });
    await Promise.race([p.catch(() => {}), timeout]);
    timer?.cancel();
  }

  /** Writes whatever is queued now (tests, shutdown). */
  async flush(): Promise<void> {
    await this.#run?.ctx.batcher.drain();
    this.#run?.ctx.assignments.flush(Number.POSITIVE_INFINITY);
  }

  stats(): DispatcherStats {
    const run = this.#run;
    const c = run?.ctx.counters;
    const b = run?.ctx.batcher;
    return {
      running: run !== undefined,
      leaderSince: this.#leaderSince,
      sessions: run?.ctx.liveness.size ?? 0,
      hellos: c?.hellos ?? 0,
      heartbeats: c?.heartbeats ?? 0,
      statusMessages: c?.statusMessages ?? 0,
      statusAccepted: b?.accepted ?? 0,
      statusUnchanged: b?.unchanged ?? 0,
      tasksWritten: b?.tasksWritten ?? 0,
      storeWrites: b?.writes ?? 0,
      nodesDown: this.#nodesDown,
      nodesRecovered: c?.recovered ?? 0,
      assignmentsPublished: run?.ctx.assignments.published ?? 0,
      operatorPublished: run?.operator.published ?? 0,
      beacons: run?.beacon.published ?? 0,
      dropped: { ...this.#drops.counts },
    };
  }

  /** Handles one uplink as if it came from the bus (what the bus handlers call). */
  handle(topic: string, payload: Uint8Array): void {
    if (this.#run) this.#onMessage(this.#run, topic, payload);
  }

  #deps() {
    return { bus: this.#opts.bus, topics: this.#topics, clock: this.#clock, log: this.#log };
  }

  #context(liveness: Liveness, baseVersion: number): UplinkContext {
    const { writer, registerUnknownNodes, clusterId } = this.#opts;
    const deps = { clock: this.#clock, drops: this.#drops, log: this.#log };
    return {
      clusterId,
      clock: this.#clock,
      store: writer.store,
      drops: this.#drops,
      liveness,
      batcher: new WriteBatcher({ ...deps, writer, registerUnknownNodes }),
      assignments: new AssignmentPublisher({ ...this.#deps(), store: writer.store, baseVersion }),
      registerUnknownNodes,
      counters: { hellos: 0, heartbeats: 0, statusMessages: 0, recovered: 0 },
    };
  }

  /** Every known node gets the leader-change grace before it can be marked down. */
  #seed(liveness: Liveness, nodes: readonly Node[], now: number): void {
    const { periodMs, missedMax } = liveness.timing;
    const grace = periodMs * Math.max(limits.leaderChangeGracePeriods, missedMax);
    for (const n of nodes) {
      // A manager has no agent session: Raft membership is its liveness, not heartbeats. (An
      // agent on the same board registers as a node of its own.)
      if (n.managerStatus) continue;
      liveness.seed(n.id, n.status.state === "down", now + grace, n.status.lastSeen ?? 0);
    }
  }

  #onMessage(run: Running, topic: string, payload: Uint8Array): void {
    try {
      handleUplink(run.ctx, topic, payload);
    } catch (err) {
      this.#drops.drop("handler_error", `handler failed on ${topic.slice(0, 200)}`, {
        err: err instanceof Error ? err.stack : String(err),
      });
    }
  }

  #armSweep(run: Running): void {
    const every = run.ctx.liveness.timing.periodMs / limits.heartbeatChecksPerPeriod;
    run.sweep = this.#clock.setTimer(every, () => {
      if (this.#run !== run) return;
      this.#sweep(run);
      this.#armSweep(run);
    });
  }

  /** Marks down every node whose deadline passed; the verdicts are batched writes. */
  #sweep(run: Running): void {
    const now = this.#clock.now();
    const { liveness, batcher } = run.ctx;
    for (const id of liveness.expired(now)) {
      this.#nodesDown++;
      const lastSeen = liveness.lastSeen(id) ?? 0;
      batcher.node(id, { state: "down", message: "heartbeat failure", lastSeen, at: now });
      this.#log.info("node down: no heartbeat", { nodeId: id, lastSeen });
    }
  }

  async #watchLoop(run: Running): Promise<void> {
    for (;;) {
      await run.watcher.wait();
      if (this.#run !== run) return;
      // A bounded slice per turn: a commit of thousands of tasks must not stall heartbeats.
      for (let i = 0; i < limits.watchEventsPerTurn; i++) {
        const e = run.watcher.shift();
        if (!e) break;
        this.#onStoreEvent(run, e);
      }
      if (run.watcher.pending > 0) await new Promise((resolve) => setImmediate(resolve));
      if (run.watcher.closedReason !== undefined && run.watcher.pending === 0) {
        return this.#resync(run);
      }
    }
  }

  /** The watch fell behind and was closed: changes were missed, so every node's assignment
   * goes out again with a new version (the current index) and every mirror is republished. */
  async #resync(run: Running): Promise<void> {
    this.#log.warn("store watch closed; resynchronising", { reason: run.watcher.closedReason });
    const store = this.#opts.writer.store;
    const { result, watcher } = store.viewAndWatch((tx) => ({
      nodes: tx.find("nodes"),
      index: store.index,
    }));
    run.watcher = watcher;
    run.loop = this.#watchLoop(run);
    await this.#publishAll(run, result.nodes, result.index);
  }

  #onStoreEvent(run: Running, e: StoreEvent): void {
    run.operator.onStoreEvent(e);
    if (e.kind === "commit") return;
    const { assignments, liveness } = run.ctx;
    if (e.table === "tasks") {
      const old =
        e.kind === "update"
          ? (e.old as Task)
          : e.kind === "delete"
            ? (e.object as Task)
            : undefined;
      const next = e.kind === "delete" ? undefined : (e.object as Task);
      for (const id of nodesChangedBy(old, next)) assignments.changed(id, e.version);
    } else if (e.table === "nodes" && e.kind === "delete") {
      liveness.forget(e.object.id);
      assignments.remove(e.object.id);
    } else if (e.table === "services" && e.kind === "update") {
      this.#onServiceRenamed(run, e.object.id, e.version, e.old);
    } else if (e.table === "clusters" && e.kind !== "delete") {
      liveness.timing = timingOf((e.object as { spec?: ClusterSpecLike }).spec);
      // A new or rotated gossip key ring, a new re-enrolment window or gossip switched on or off
      // reaches every node with a new assignment version.
      const keys = (c: unknown) => JSON.stringify((c as { gossipKeys?: unknown }).gossipKeys);
      const window = (c: unknown) => (c as { spec?: ClusterSpecLike }).spec?.reenrolWindowMs;
      const gossip = (c: unknown) => (c as { spec?: ClusterSpecLike }).spec?.gossip !== false;
      if (
        e.kind === "create" ||
        keys(e.old) !== keys(e.object) ||
        window(e.old) !== window(e.object) ||
        gossip(e.old) !== gossip(e.object)
      )
        this.#republishAll(run, e.version);
    }
  }

  #republishAll(run: Running, version: number): void {
    const nodes = this.#opts.writer.store.view((tx) => tx.find("nodes"));
    for (const n of nodes) run.ctx.assignments.changed(n.id, version);
  }

  /** Assignments carry the service name: a rename republishes its nodes' assignments. */
  #onServiceRenamed(run: Running, id: string, version: number, old: unknown): void {
    const store = this.#opts.writer.store;
    const now = store.view((tx) => tx.get("services", id));
    const before = (old as { spec?: { name?: string } }).spec?.name;
    if (!now || now.spec.name === before) return;
    const nodes = store.view((tx) => tx.find("tasks", by.serviceId(id)));
    for (const t of nodes) if (t.nodeId) run.ctx.assignments.changed(t.nodeId, version);
  }

  /** At leader start (and after a resync, with a new version): every node's assignment and
   * every mirror, in chunks so the event loop keeps serving heartbeats. */
  async #publishAll(run: Running, nodes: readonly Node[], newVersion?: number): Promise<void> {
    const chunk = limits.leaderStartPublishChunk;
    for (let i = 0; i < nodes.length; i += chunk) {
      if (this.#run !== run) return;
      for (const n of nodes.slice(i, i + chunk)) {
        if (newVersion === undefined) run.ctx.assignments.publish(n.id);
        else run.ctx.assignments.changed(n.id, newVersion);
        run.operator.nodeState(n);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const services = this.#opts.writer.store.view((tx) => tx.find("services"));
    for (const s of services) run.operator.serviceState(s.id);
  }
}

interface ClusterSpecLike {
  reenrolWindowMs?: number;
  gossip?: boolean;
  heartbeatPeriodMs?: number;
  dispatcherGracePeriods?: number;
}

function timingOf(spec: ClusterSpecLike | undefined): LivenessTiming {
  return {
    periodMs: spec?.heartbeatPeriodMs ?? limits.heartbeatPeriodMsDefault,
    missedMax: spec?.dispatcherGracePeriods ?? limits.heartbeatMissedMax,
  };
}
