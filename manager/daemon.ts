// The manager daemon: wires Raft (with the store), the embedded broker and its mesh (or, with
// --broker, a session on an external broker instead), the API and the leader-only components. It
// holds no logic of its own beyond that wiring and registering this manager in the store.

import { mkdir } from "node:fs/promises";
import { defaultClusterSpec } from "../core/model/defaults.ts";
import type { Node } from "../core/model/types.ts";
import { by } from "../core/store/indexes.ts";
import { Store } from "../core/store/store.ts";
import { BrokerLogSource } from "./api/logs.ts";
import { ApiServer } from "./api/server.ts";
import { StoreTokenSource } from "./api/tokens.ts";
import { Broker } from "./broker/broker.ts";
import { ExternalLink } from "./broker/external.ts";
import { Mesh } from "./broker/mesh.ts";
import { CaKeeper } from "./ca/lifecycle.ts";
import { startManagerRenewal } from "./ca/self-renewal.ts";
import type { ManagerConfig } from "./config.ts";
import type { ManagerContext } from "./context.ts";
import { securityDeps, watchRevocations } from "./daemon-security.ts";
import {
  clearPendingCA,
  foundCluster,
  joinCluster,
  loadPendingCA,
  type PendingCA,
} from "./founding.ts";
import { type Identity, loadCerts, loadIdentity, newRaftId, saveIdentity } from "./identity.ts";
import { newId } from "./ids.ts";
import { INSECURE_CLUSTER_LEVEL } from "./join.ts";
import { LeaderComponents } from "./leader.ts";
import type { Logger } from "./log.ts";
import { RaftNode } from "./raft/node.ts";
import type { PeerAddr } from "./raft/transport.ts";
import { RaftWriter } from "./raft/writer.ts";
import { apiTls, brokerSecurity, meshTls, raftSockets, type SecurityDeps } from "./secure.ts";

export class ManagerDaemon {
  readonly store = new Store();
  raft!: RaftNode;
  writer!: RaftWriter;
  /** The embedded broker and mesh; both absent in external broker mode (--broker). */
  broker: Broker | undefined;
  mesh: Mesh | undefined;
  /** External broker mode: this manager's own session on that broker (service logs). */
  external: ExternalLink | undefined;
  api!: ApiServer;
  identity!: Identity;
  #leader: LeaderComponents | undefined;
  #leaderChange: Promise<void> = Promise.resolve();
  #stopped = false;
  #ready = false;
  #peerWatch: ReturnType<Store["watch"]> | undefined;
  #pendingCA: PendingCA | undefined;
  #peerTimer: NodeJS.Timeout | undefined;
  #leaderlessSince: number | undefined;
  #done!: () => void;
  /** Resolves once the daemon has stopped (by stop() or on its own, e.g. removed). */
  readonly done = new Promise<void>((resolve) => {
    this.#done = resolve;
  });
  #sec: SecurityDeps | undefined;
  /** The CA as this manager holds it (autolock: sealed until `fleet unlock`). */
  caKeeper!: CaKeeper;
  #revocations: { close(): void } | undefined;
  /** Secure mode: swaps this manager's TLS material (its own certificate renewal). */
  #setCerts: ((m: { caPem: string; certPem: string; keyPem: string }) => void) | undefined;
  #selfRenewal: { stop(): void } | undefined;
  /** True when this start founded the cluster's Raft group (init or static bootstrap). */
  #founder = false;

  constructor(
    readonly config: ManagerConfig,
    readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const c = this.config;
    await mkdir(c.dataDir, { recursive: true });
    this.identity = await this.#identity();
    this.#pendingCA = await loadPendingCA(c.dataDir);
    const { identity: id } = this;
    this.caKeeper = new CaKeeper(id.clusterId);
    const sec = c.insecure ? undefined : await this.#security();
    this.log.info("starting", { node: id.nodeId, raftId: id.raftId, cluster: id.clusterId });
    const peers = new Map<number, PeerAddr>(
      id.members.map((m) => [m.raftId, { host: m.host, port: m.port }]),
    );
    this.raft = await RaftNode.start({
      id: id.raftId,
      dataDir: c.dataDir,
      listen: { host: c.listenAddr, port: c.raftPort },
      store: this.store,
      peers,
      // Used only when the data dir holds no Raft state yet (RaftNode ignores it otherwise). A
      // joined manager has none: the leader added it, and it catches up from the leader.
      bootstrap: this.#founder ? [...peers.keys()] : undefined,
      forceNewCluster: c.forceNewCluster,
      tickMs: c.tickMs,
      electionTicks: c.electionTicks,
      ...(sec ? { sockets: raftSockets(sec) } : {}),
      log: this.log.child("raft").line(),
      onFatal: (err) => {
        this.log.error("raft stopped: disk failure", { err: err.message });
        process.exitCode = 70;
        void this.stop();
      },
      onLeaderChange: (leader) => this.#onLeaderChange(leader),
    });
    this.writer = new RaftWriter(this.raft);
    if (c.broker !== undefined) {
      // External broker mode: no broker port, no mesh. Revoked nodes are refused by that
      // broker's CRL and ACL (`fleet broker-config mosquitto --watch` keeps them current).
      this.external = new ExternalLink({
        url: c.broker,
        clientId: `fleet-manager-${id.nodeId}`,
        ...(sec ? { mqtt: meshTls(sec) } : {}),
        log: this.log.child("broker"),
      });
    } else {
      const broker = await Broker.start({
        id: id.nodeId,
        host: c.listenAddr,
        port: c.brokerPort,
        ...(sec ? brokerSecurity(sec) : { meshSecret: `mesh-${id.clusterId}` }),
        report: (r) => this.log.debug("broker", { kind: r.kind, msg: r.message }),
      });
      this.broker = broker;
      this.mesh = new Mesh({
        broker,
        selfId: id.nodeId,
        ...(sec ? { tls: meshTls(sec) } : { secret: `mesh-${id.clusterId}` }),
        report: (r) => this.log.debug("mesh", { kind: r.kind, peer: r.peer, msg: r.message }),
      });
      broker.setGate(this.mesh);
      if (sec) this.#revocations = watchRevocations(this.store, broker, sec);
    }
    if (sec && this.#setCerts) {
      // Its own certificate, renewed with the CA it holds (manager/ca/self-renewal.ts).
      const setCerts = this.#setCerts;
      this.#selfRenewal = startManagerRenewal({
        dataDir: c.dataDir,
        clusterId: id.clusterId,
        nodeId: id.nodeId,
        store: this.store,
        writer: this.writer,
        ca: () => this.caKeeper.ca(this.store.view((tx) => tx.get("clusters", id.clusterId))),
        swap: setCerts,
        log: this.log.child("ca"),
      });
    }
    this.#followManagers();
    this.api = new ApiServer(this.#context(), {
      socketPath: c.apiSocket,
      ...(c.apiPort > 0
        ? { tcp: { host: c.listenAddr, port: c.apiPort, ...(sec ? { tls: apiTls(sec) } : {}) } }
        : {}),
      tokens: new StoreTokenSource(this.store, this.writer, this.identity.clusterId),
      // Service logs: asked of the agents over the broker mesh or the external broker
      // (manager/api/logs.ts).
      logs: new BrokerLogSource({
        bus: (this.external ?? this.broker)!,
        clusterId: this.identity.clusterId,
        newId,
      }),
      ca: this.caKeeper,
    });
    await this.api.start();
    void this.#register();
    this.#ready = true;
    this.#onLeaderChange(this.raft.leader);
    this.log.info("ready", {
      raft: c.raftPort,
      broker: this.broker ? this.broker.port : c.broker,
      api: c.apiSocket,
    });
  }

  /** Secure mode: this manager's certificate files and the store's revocations and tokens. */
  async #security(): Promise<SecurityDeps> {
    const certs = await loadCerts(this.config.dataDir);
    if (!certs)
      throw new Error(
        `${this.config.dataDir}/certs holds no certificate: this manager was started with ` +
          "--insecure or --initial-cluster (keep --insecure), or its certificates were deleted",
      );
    let current = certs;
    const tls = () => current;
    this.#setCerts = (m) => {
      current = m;
    };
    this.#sec = securityDeps(this.store, this.identity.clusterId, tls, this.log.child("tls"));
    return this.#sec;
  }

  async #identity(): Promise<Identity> {
    const c = this.config;
    const known = await loadIdentity(c.dataDir);
    if (known) return known;
    this.#founder = c.init || c.initialCluster !== undefined;
    if (c.initialCluster) {
      const members = [...c.initialCluster].map(([raftId, a]) => ({
        raftId,
        host: a.host,
        port: a.port,
      }));
      const id = { clusterId: c.clusterId!, nodeId: newId(), raftId: c.raftId!, members };
      await saveIdentity(c.dataDir, id);
      return id;
    }
    if (c.init) return foundCluster(c);
    if (c.join) {
      this.log.info("joining", { via: c.joinAddrs.join(",") });
      return joinCluster(c, (line) => this.log.info(line));
    }
    throw new Error(
      `${c.dataDir} holds no manager state: start with --init (a new cluster), ` +
        "--join TOKEN --join-addr HOST:PORT, or --initial-cluster",
    );
  }

  #context(): ManagerContext {
    const raft = this.raft;
    return {
      info: {
        nodeId: this.identity.nodeId,
        raftId: this.identity.raftId,
        clusterId: this.identity.clusterId,
      },
      store: this.store,
      writer: this.writer,
      consensus: {
        isLeader: () => raft.isLeader,
        leader: () => raft.leader,
        term: () => raft.status().hardState.term,
        linearizable: () => raft.linearizable(),
      },
      now: () => Date.now(),
      newId,
      log: this.log.child("api"),
    };
  }

  /** Writes the cluster object (once) and this manager's Node, retrying until a leader takes it. */
  async #register(): Promise<void> {
    const c = this.config;
    const id = this.identity;
    for (let attempt = 0; !this.#stopped; attempt++) {
      try {
        const pending = this.#pendingCA;
        await this.writer.update((tx) => {
          const now = Date.now();
          const cluster = tx.get("clusters", id.clusterId);
          if (!cluster) {
            tx.create("clusters", {
              id: id.clusterId,
              version: 0,
              createdAt: now,
              updatedAt: now,
              spec: { ...defaultClusterSpec, ...(c.clusterName ? { name: c.clusterName } : {}) },
              ...pending,
            });
          } else if (pending && !cluster.rootCA) {
            tx.update("clusters", { ...cluster, ...pending, updatedAt: now });
          }
          const node = managerNode(id, c, now);
          const old = tx.get("nodes", id.nodeId);
          if (!old) tx.create("nodes", node);
          else if (
            old.managerStatus?.addr !== node.managerStatus!.addr ||
            old.managerStatus?.brokerAddr !== node.managerStatus!.brokerAddr ||
            old.status.state !== "ready"
          )
            tx.update("nodes", {
              ...old,
              status: { ...old.status, state: "ready", lastSeen: now },
              managerStatus: { ...old.managerStatus, ...node.managerStatus! },
              updatedAt: now,
            });
        });
        if (pending) {
          await clearPendingCA(c.dataDir);
          this.#pendingCA = undefined;
        }
        this.log.info("registered in the cluster store");
        return;
      } catch (err) {
        if (attempt % 20 === 0)
          this.log.debug("registration pending", { err: (err as Error).message });
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** Raft peers and mesh peers follow the managers recorded in the store. */
  #followManagers(): void {
    const sync = () => {
      const managers = this.store.view((tx) => tx.find("nodes", by.role("manager")));
      const meshPeers = [];
      const members = [...this.identity.members];
      for (const n of managers) {
        const ms = n.managerStatus;
        if (!ms || n.id === this.identity.nodeId) continue;
        const [host, port] = ms.addr.split(":");
        const raftId = Number(ms.raftId);
        this.raft.setPeer(raftId, { host: host!, port: Number(port) });
        if (!members.some((m) => m.raftId === raftId))
          members.push({ raftId, host: host!, port: Number(port) });
        const scheme = this.#sec ? "mqtts" : "mqtt";
        if (ms.brokerAddr) meshPeers.push({ id: n.id, url: `${scheme}://${ms.brokerAddr}` });
      }
      this.mesh?.setPeers(meshPeers);
      if (members.length !== this.identity.members.length) {
        this.identity = { ...this.identity, members };
        void saveIdentity(this.config.dataDir, this.identity).catch(() => {});
      }
    };
    sync();
    this.#peerTimer = setInterval(() => this.#checkRemoved(), 2000);
    // Only manager nodes matter here: agents' status writes must not cost a scan each.
    const isManager = (o: unknown) => (o as Node | undefined)?.managerStatus !== undefined;
    void (async () => {
      // A store replaced by a Raft snapshot (a joining manager catching up) closes its watches
      // instead of emitting per-object events: sync again and watch anew.
      while (!this.#stopped) {
        this.#peerWatch = this.store.watch({
          tables: ["nodes"],
          where: (e) =>
            e.kind !== "commit" &&
            (isManager(e.object) || (e.kind === "update" && isManager(e.old))),
        });
        for await (const _ of this.#peerWatch) {
          if (this.#stopped) return;
          this.#peerWatch.drain();
          sync();
        }
        if (!this.#stopped) sync();
      }
    })();
  }

  /**
   * A demoted manager is removed from the Raft group by the leader and then hears from no
   * leader: it has nothing left to do here, so it stops (`fleet leave` waits for that).
   */
  #checkRemoved(): void {
    const self = this.store.view((tx) => tx.get("nodes", this.identity.nodeId));
    if (self?.spec.role !== "worker" || this.raft.leader !== 0) {
      this.#leaderlessSince = undefined;
      return;
    }
    this.#leaderlessSince ??= Date.now();
    if (Date.now() - this.#leaderlessSince < 4000) return;
    this.log.info("demoted and out of the Raft group: stopping");
    void this.stop();
  }

  #onLeaderChange(leader: number): void {
    const mine = leader === this.identity.raftId;
    this.log.info("leader changed", { leader, self: mine });
    if (!this.#ready) return; // start() applies the leadership it ends with
    // A start still waiting for the broker must not hold up losing leadership.
    if (!mine) this.#leader?.cancel();
    this.#leaderChange = this.#leaderChange.then(async () => {
      if (mine && !this.#leader && !this.#stopped) {
        await this.#startLeader();
      } else if (!mine && this.#leader) {
        const l = this.#leader;
        this.#leader = undefined;
        await l.stop();
      }
    });
  }

  /** Starts the leader's components; a failed start (e.g. an external broker refusing a
   * subscription while its ACL lacks this manager) is stopped and tried afresh while still
   * leader. */
  async #startLeader(): Promise<void> {
    const stillLeader = (l: LeaderComponents) =>
      !this.#stopped && this.#leader === l && this.raft.leader === this.identity.raftId;
    for (let attempt = 0; ; attempt++) {
      const l = this.#newLeader();
      this.#leader = l;
      try {
        await l.start();
        return;
      } catch (err) {
        if (!stillLeader(l)) return;
        const delay = Math.min(30_000, 1000 * 2 ** attempt);
        this.log.error("leader start failed; retrying", {
          err: (err as Error).message,
          retryInMs: delay,
        });
        await l.stop().catch(() => {});
        // Waits in short steps: a stop or a lost leadership ends the wait at once.
        for (const end = Date.now() + delay; Date.now() < end && stillLeader(l); )
          await new Promise((r) => setTimeout(r, 100));
        if (!stillLeader(l)) return;
      }
    }
  }

  #newLeader(): LeaderComponents {
    return new LeaderComponents({
      store: this.store,
      writer: this.writer,
      propose: (a) => this.raft.propose(a),
      settled: () => this.raft.linearizable(),
      // --broker: the leader's sessions (dispatcher, joins, renewals, operator topics) go
      // through an external broker (e.g. mosquitto from `fleet broker-config mosquitto`)
      // with this manager's certificate, and joins are told to use that broker; else
      // through its embedded broker.
      brokerUrl:
        this.config.broker ?? `${this.#sec ? "mqtts" : "mqtt"}://127.0.0.1:${this.broker!.port}`,
      ...(this.config.broker ? { joinBrokers: () => [this.config.broker!] } : {}),
      ...(this.#sec ? { brokerMqtt: meshTls(this.#sec) } : {}),
      clusterId: this.identity.clusterId,
      managerId: this.identity.nodeId,
      log: this.log.child("leader"),
      raft: {
        selfRaftId: this.identity.raftId,
        status: () => {
          const st = this.raft.status();
          return {
            conf: st.currentConfState,
            lastIndex: st.hardState.commit,
            ...(st.progress ? { progress: st.progress } : {}),
          };
        },
        change: (cc, addr) => this.raft.changeMembership(cc, addr),
        transfer: (to) => this.raft.transferLeadership(to),
        members: () => this.#members(),
        newId,
        newRaftId,
      },
      ...(this.config.insecure ? { insecureJoinLevel: INSECURE_CLUSTER_LEVEL } : {}),
      ca: () =>
        this.caKeeper.ca(this.store.view((tx) => tx.get("clusters", this.identity.clusterId))),
    });
  }

  /** The Raft members now (voters and learners) with their addresses, for a joining manager. */
  #members(): { raftId: number; host: string; port: number }[] {
    const st = this.raft.status().currentConfState;
    const addrs = new Map<number, { host: string; port: number }>();
    for (const m of this.identity.members) addrs.set(m.raftId, { host: m.host, port: m.port });
    for (const n of this.store.view((tx) => tx.find("nodes"))) {
      const ms = n.managerStatus;
      if (!ms) continue;
      const i = ms.addr.lastIndexOf(":");
      addrs.set(Number(ms.raftId), {
        host: ms.addr.slice(0, i),
        port: Number(ms.addr.slice(i + 1)),
      });
    }
    addrs.set(this.identity.raftId, {
      host: this.config.advertiseAddr,
      port: this.config.raftPort,
    });
    const out = [];
    for (const raftId of [...st.voters, ...st.learners]) {
      const a = addrs.get(raftId);
      if (a) out.push({ raftId, ...a });
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.log.info("stopping");
    this.#peerWatch?.close();
    clearInterval(this.#peerTimer);
    this.#revocations?.close();
    this.#selfRenewal?.stop();
    // A leader start still waiting for an external broker must not hold up the stop.
    this.#leader?.cancel();
    await this.#leaderChange;
    await this.#leader?.stop();
    await this.api?.stop().catch(() => {});
    await this.mesh?.close().catch(() => {});
    await this.external?.close().catch(() => {});
    await this.broker?.close().catch(() => {});
    await this.raft?.stop();
    this.log.info("stopped");
    this.#done();
  }
}

function managerNode(id: Identity, c: ManagerConfig, now: number): Node {
  return {
    id: id.nodeId,
    version: 0,
    createdAt: now,
    updatedAt: now,
    description: {
      hostname: c.hostname,
      platform: { os: process.platform, arch: process.arch },
      resources: { nanoCPUs: 0, memoryBytes: 0 },
      engineLabels: {},
    },
    // A manager runs no containers of its own (an agent on the same board registers separately).
    spec: { role: "manager", availability: "drain", labels: c.labels },
    status: { state: "ready", addr: c.advertiseAddr, lastSeen: now },
    managerStatus: {
      raftId: String(id.raftId),
      addr: `${c.advertiseAddr}:${c.raftPort}`,
      // External broker mode: the broker this manager's sessions (and every node's) use; the
      // dispatcher hands these addresses to agents as brokers to fail over to.
      brokerAddr: c.broker
        ? c.broker.replace(/^mqtts?:\/\//, "").replace(/\/$/, "")
        : `${c.advertiseAddr}:${c.brokerPort}`,
      reachability: "reachable",
      leader: false,
    },
  };
}
