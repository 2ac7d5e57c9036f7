// What only the leader runs: the dispatcher (node sessions over MQTT) and the orchestrator's
// control loops. Started when this manager wins leadership, stopped when it loses it. The loops'
// writes become Raft proposals; the driver steps them on store changes and on their timers.

import { randomBytes } from "node:crypto";
import type { IClientOptions } from "mqtt";
import { Orchestrator } from "../core/orchestrator/orchestrator.ts";
import type { ConfChange } from "../core/raft/types.ts";
import type { StoreAction } from "../core/store/actions.ts";
import type { Store } from "../core/store/store.ts";
import type { StoreWriter } from "../core/store/writer.ts";
import { connectExternal } from "./broker/external.ts";
import type { CertificateAuthority } from "./ca/ca.ts";
import { GossipKeyService } from "./ca/gossip-key.ts";
import { type RenewalService, storeRenewalService } from "./ca/renewal-service.ts";
import { type JoinMember, JoinService } from "./ca/service.ts";
import { Dispatcher } from "./dispatcher/dispatcher.ts";
import type { MqttBus } from "./dispatcher/mqtt-bus.ts";
import type { Logger } from "./log.ts";
import { type MembershipDeps, MembershipReconciler } from "./membership.ts";

export interface LeaderDeps {
  store: Store;
  writer: StoreWriter;
  propose(actions: StoreAction[]): Promise<void>;
  /** Resolves once this leader's first entry of its term is applied (ReadIndex does that). */
  settled(): Promise<void>;
  brokerUrl: string;
  /** MQTT.js options for the leader's broker sessions, read at every (re)connect. */
  brokerMqtt?: () => IClientOptions;
  /** External broker mode: the brokers a joining node is told to use (the whole list). */
  joinBrokers?: () => string[];
  clusterId: string;
  managerId: string;
  log: Logger;
  /** --insecure: the CA also answers plain-MQTT joiners on this cluster level. */
  insecureJoinLevel?: string;
  /** The CA as this manager holds it now (undefined while locked): renewals and joins use it. */
  ca?: () => CertificateAuthority | undefined;
  /** Raft membership: joins (the CA service) and the reconciler. Absent: neither runs. */
  raft?: {
    selfRaftId: number;
    status: MembershipDeps["status"];
    change(cc: ConfChange, addr?: { host: string; port: number }): Promise<void>;
    transfer(to: number): void;
    members(): JoinMember[];
    newId(): string;
    newRaftId(): number;
  };
}

/** The orchestrator, stepped on store changes and timers; its writes go through Raft. */
class OrchestratorDriver {
  readonly #orch: Orchestrator;
  readonly #watch;
  #timer: NodeJS.Timeout | undefined;
  #inflight = 0;
  #stopped = false;

  constructor(private readonly deps: LeaderDeps) {
    const seed = randomBytes(4).readUInt32LE();
    const propose = (actions: StoreAction[]) => {
      this.#inflight++;
      deps
        .propose(actions)
        .catch((err: Error) =>
          deps.log.debug("orchestrator write not applied", { err: err.message }),
        )
        .finally(() => {
          this.#inflight--;
          this.#kick(0);
        });
    };
    this.#orch = new Orchestrator(deps.store, { seed, propose });
    this.#watch = deps.store.watch({ kinds: ["commit"] });
    void this.#wakeOnChanges();
    this.#kick(0);
  }

  async #wakeOnChanges(): Promise<void> {
    for await (const _ of this.#watch) {
      if (this.#stopped) return;
      this.#kick(0);
    }
  }

  #kick(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#step(), delayMs);
  }

  #step(): void {
    if (this.#stopped) return;
    // Wait for our own proposals to apply before stepping on a state that lacks them.
    if (this.#inflight > 0) return;
    const now = Date.now();
    try {
      this.#orch.step(now);
    } catch (err) {
      this.deps.log.error("orchestrator step failed", { err: (err as Error).message });
    }
    const next = this.#orch.nextDeadlineMs();
    if (this.#inflight === 0 && next !== undefined) this.#kick(Math.max(10, next - Date.now()));
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#watch.close();
    this.#orch.close();
  }
}

export class LeaderComponents {
  #dispatcher: Dispatcher | undefined;
  #bus: MqttBus | undefined;
  #orch: OrchestratorDriver | undefined;
  #join: JoinService | undefined;
  #renewal: RenewalService | undefined;
  #membership: MembershipReconciler | undefined;
  #gossipKeys: GossipKeyService | undefined;
  /** Aborts a first broker connection still being retried when leadership ends. */
  readonly #abort = new AbortController();

  constructor(private readonly deps: LeaderDeps) {}

  async start(): Promise<void> {
    const { deps } = this;
    // Act only on a store that holds everything committed before this term: assignment
    // versions and the loops' decisions must never be based on an older state.
    for (let i = 0; ; i++) {
      try {
        await deps.settled();
        break;
      } catch (err) {
        if (i >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    this.#orch = new OrchestratorDriver(deps);
    // The gossip key ring: made if the cluster has none, pruned when a grace ends.
    this.#gossipKeys = new GossipKeyService(deps.writer, deps.log.child("gossip"));
    this.#gossipKeys.start();
    // The broker (embedded, or external with --broker, which may be down or start later) is
    // retried with backoff for as long as it takes; losing leadership meanwhile ends the wait.
    this.#bus = await connectExternal({
      url: deps.brokerUrl,
      clientId: `fleet-dispatcher-${deps.managerId}`,
      ...(deps.brokerMqtt ? { mqtt: deps.brokerMqtt } : {}),
      log: deps.log,
      signal: this.#abort.signal,
    });
    this.#dispatcher = new Dispatcher({
      writer: deps.writer,
      bus: this.#bus,
      clusterId: deps.clusterId,
      managerId: deps.managerId,
      registerUnknownNodes: true,
    });
    await this.#dispatcher.start();
    const raft = deps.raft;
    if (raft) {
      this.#membership = new MembershipReconciler({
        store: deps.store,
        writer: deps.writer,
        selfRaftId: raft.selfRaftId,
        status: raft.status,
        change: (cc) => raft.change(cc),
        transfer: (to) => raft.transfer(to),
        log: deps.log.child("membership"),
      });
      this.#join = new JoinService({
        store: deps.store,
        writer: deps.writer,
        bus: this.#bus,
        clusterId: deps.clusterId,
        addLearner: (raftId, addr) => raft.change({ type: "addLearner", nodeId: raftId }, addr),
        members: raft.members,
        newId: raft.newId,
        newRaftId: raft.newRaftId,
        ...(deps.insecureJoinLevel ? { insecureLevel: deps.insecureJoinLevel } : {}),
        ...(deps.ca ? { ca: deps.ca } : {}),
        ...(deps.joinBrokers ? { brokers: deps.joinBrokers } : {}),
        log: deps.log.child("ca"),
      });
      await this.#join.start();
    }
    if (deps.ca) {
      // Certificate renewal and re-enrolment: n/<id>/csr -> n/<id>/cert (manager/ca).
      this.#renewal = storeRenewalService({
        ...deps,
        bus: this.#bus,
        ca: deps.ca,
        log: deps.log.child("ca"),
      });
      await this.#renewal.start();
    }
    deps.log.info("leader components started");
  }

  /** Ends a start() still waiting for the broker (call at once when leadership is lost). */
  cancel(): void {
    this.#abort.abort(new Error("leadership ended"));
  }

  async stop(): Promise<void> {
    this.cancel();
    this.#gossipKeys?.stop();
    this.#gossipKeys = undefined;
    this.#membership?.stop();
    this.#membership = undefined;
    await this.#join?.stop().catch(() => {});
    this.#join = undefined;
    await this.#renewal?.stop();
    this.#renewal = undefined;
    this.#orch?.stop();
    this.#orch = undefined;
    await this.#dispatcher?.stop().catch(() => {});
    this.#dispatcher = undefined;
    await this.#bus?.close().catch(() => {});
    this.#bus = undefined;
    this.deps.log.info("leader components stopped");
  }
}
