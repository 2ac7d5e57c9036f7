// The manager daemon: wires Raft (with the store), the embedded broker and its mesh, the API and
// the leader-only components. It holds no logic of its own beyond that wiring and registering
// this manager in the store.

import { mkdir } from "node:fs/promises";
import { defaultClusterSpec } from "../core/model/defaults.ts";
import type { Node } from "../core/model/types.ts";
import { by } from "../core/store/indexes.ts";
import { Store } from "../core/store/store.ts";
import { ApiServer } from "./api/server.ts";
import { DevTokenSource } from "./api/tokens.ts";
import { Broker } from "./broker/broker.ts";
import { Mesh } from "./broker/mesh.ts";
import type { ManagerConfig } from "./config.ts";
import type { ManagerContext } from "./context.ts";
import { type Identity, loadIdentity, newRaftId, saveIdentity } from "./identity.ts";
import { newId } from "./ids.ts";
import { LeaderComponents } from "./leader.ts";
import type { Logger } from "./log.ts";
import { RaftNode } from "./raft/node.ts";
import type { PeerAddr } from "./raft/transport.ts";
import { RaftWriter } from "./raft/writer.ts";

export class ManagerDaemon {
  readonly store = new Store();
  raft!: RaftNode;
  writer!: RaftWriter;
  broker!: Broker;
  mesh!: Mesh;
  api!: ApiServer;
  identity!: Identity;
  #leader: LeaderComponents | undefined;
  #leaderChange: Promise<void> = Promise.resolve();
  #stopped = false;
  #ready = false;
  #peerWatch: ReturnType<Store["watch"]> | undefined;

  constructor(
    readonly config: ManagerConfig,
    readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const c = this.config;
    if (!c.insecure)
      throw new Error(
        "secure transports not available in this build yet: start with --insecure (loopback only)",
      );
    await mkdir(c.dataDir, { recursive: true });
    this.identity = await this.#identity();
    const { identity: id } = this;
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
      // Used only when the data dir holds no Raft state yet (RaftNode ignores it otherwise).
      bootstrap: c.init || c.initialCluster ? [...peers.keys()] : undefined,
      forceNewCluster: c.forceNewCluster,
      tickMs: c.tickMs,
      electionTicks: c.electionTicks,
      log: this.log.child("raft").line(),
      onFatal: (err) => {
        this.log.error("raft stopped: disk failure", { err: err.message });
        process.exitCode = 70;
        void this.stop();
      },
      onLeaderChange: (leader) => this.#onLeaderChange(leader),
    });
    this.writer = new RaftWriter(this.raft);
    this.broker = await Broker.start({
      id: id.nodeId,
      host: c.listenAddr,
      port: c.brokerPort,
      meshSecret: `mesh-${id.clusterId}`,
      report: (r) => this.log.debug("broker", { kind: r.kind, msg: r.message }),
    });
    this.mesh = new Mesh({
      broker: this.broker,
      selfId: id.nodeId,
      secret: `mesh-${id.clusterId}`,
    });
    this.broker.setGate(this.mesh);
    this.#followManagers();
    this.api = new ApiServer(this.#context(), {
      socketPath: c.apiSocket,
      ...(c.apiPort > 0 ? { tcp: { host: c.listenAddr, port: c.apiPort } } : {}),
      tokens: new DevTokenSource(this.identity.clusterId),
    });
    await this.api.start();
    void this.#register();
    this.#ready = true;
    this.#onLeaderChange(this.raft.leader);
    this.log.info("ready", { raft: c.raftPort, broker: this.broker.port, api: c.apiSocket });
  }

  async #identity(): Promise<Identity> {
    const c = this.config;
    const known = await loadIdentity(c.dataDir);
    if (known) return known;
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
    if (c.init) {
      const raftId = newRaftId();
      const members = [{ raftId, host: c.advertiseAddr, port: c.raftPort }];
      const id = { clusterId: newId(), nodeId: newId(), raftId, members };
      await saveIdentity(c.dataDir, id);
      return id;
    }
    throw new Error(
      `${c.dataDir} holds no manager state: start with --init (a new cluster) or --initial-cluster`,
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
        await this.writer.update((tx) => {
          const now = Date.now();
          if (!tx.get("clusters", id.clusterId)) {
            tx.create("clusters", {
              id: id.clusterId,
              version: 0,
              createdAt: now,
              updatedAt: now,
              spec: { ...defaultClusterSpec },
            });
          }
          const node = managerNode(id, c, now);
          const old = tx.get("nodes", id.nodeId);
          if (!old) tx.create("nodes", node);
          else if (
            old.managerStatus?.addr !== node.managerStatus!.addr ||
            old.managerStatus?.brokerAddr !== node.managerStatus!.brokerAddr
          )
            tx.update("nodes", { ...old, managerStatus: node.managerStatus, updatedAt: now });
        });
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
        if (ms.brokerAddr) meshPeers.push({ id: n.id, url: `mqtt://${ms.brokerAddr}` });
      }
      this.mesh.setPeers(meshPeers);
      if (members.length !== this.identity.members.length) {
        this.identity = { ...this.identity, members };
        void saveIdentity(this.config.dataDir, this.identity).catch(() => {});
      }
    };
    sync();
    // Only manager nodes matter here: agents' status writes must not cost a scan each.
    const isManager = (o: unknown) => (o as Node | undefined)?.managerStatus !== undefined;
    this.#peerWatch = this.store.watch({
      tables: ["nodes"],
      where: (e) =>
        e.kind !== "commit" && (isManager(e.object) || (e.kind === "update" && isManager(e.old))),
    });
    void (async () => {
      for await (const _ of this.#peerWatch!) {
        if (this.#stopped) return;
        this.#peerWatch!.drain();
        sync();
      }
    })();
  }

  #onLeaderChange(leader: number): void {
    const mine = leader === this.identity.raftId;
    this.log.info("leader changed", { leader, self: mine });
    if (!this.#ready) return; // start() applies the leadership it ends with
    this.#leaderChange = this.#leaderChange.then(async () => {
      if (mine && !this.#leader && !this.#stopped) {
        this.#leader = new LeaderComponents({
          store: this.store,
          writer: this.writer,
          propose: (a) => this.raft.propose(a),
          settled: () => this.raft.linearizable(),
          brokerUrl: `mqtt://127.0.0.1:${this.broker.port}`,
          clusterId: this.identity.clusterId,
          managerId: this.identity.nodeId,
          log: this.log.child("leader"),
        });
        await this.#leader
          .start()
          .catch((err: Error) => this.log.error("leader start failed", { err: err.message }));
      } else if (!mine && this.#leader) {
        const l = this.#leader;
        this.#leader = undefined;
        await l.stop();
      }
    });
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.log.info("stopping");
    this.#peerWatch?.close();
    await this.#leaderChange;
    await this.#leader?.stop();
    await this.api?.stop().catch(() => {});
    await this.mesh?.close().catch(() => {});
    await this.broker?.close().catch(() => {});
    await this.raft?.stop();
    this.log.info("stopped");
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
      brokerAddr: `${c.advertiseAddr}:${c.brokerPort}`,
      reachability: "reachable",
      leader: false,
    },
  };
}
