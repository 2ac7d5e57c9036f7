// What a Session (session.ts) is given: the worker it feeds, its TLS material and its options.

import type {
  MessageBodies,
  TaskStatusUpdate,
  WireNodeDescription,
} from "../../core/codec/index.ts";
import type { Assignment } from "../state/state.ts";

/** What the session needs from the worker. */
export interface SessionWorker {
  readonly assignVersion: number;
  statuses(): TaskStatusUpdate[];
  setAssignment(a: Assignment): boolean;
  setOnline(online: boolean): void;
  runningCount(): number;
}

export interface SessionTls {
  cert?: string | Buffer;
  key?: string | Buffer;
  ca?: string | Buffer;
  /** Default true; only tests against self-made brokers turn it off. */
  rejectUnauthorized?: boolean;
  /** Name the broker's certificate must carry (fleet managers: `fleet-manager`), any address. */
  servername?: string;
}

export interface SessionOptions {
  clusterId: string;
  nodeId: string;
  /** Broker URLs (mqtt://, mqtts://), tried in order (before the learned ones). */
  brokers: string[];
  /** The data dir: the managers' brokers learned from assignments are kept there and tried
   * after the configured ones. Without it nothing is learned. */
  brokersDir?: string;
  worker: SessionWorker;
  describe: () => WireNodeDescription;
  agentVersion: string;
  tls?: SessionTls;
  heartbeatPeriodMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  connectTimeoutMs?: number;
  keepaliveSec?: number;
  statusIntervalMs?: number;
  /** A path whose filesystem's free space the heartbeat reports. */
  diskPath?: string;
  random?: () => number;
  /** The clock of the manager liveness rule (tests). */
  now?: () => number;
  log?: (line: string) => void;
  onConnected?: (broker: string) => void;
  onDisconnected?: (broker: string) => void;
  /** Topics subscribed on every connection besides the assignment (e.g. the node's cert);
   * subscribe()/unsubscribe() change the set later. */
  subscriptions?: string[];
  /** Messages on those topics (the assignment topic is the session's own). */
  onMessage?: (topic: string, payload: Buffer) => void;
  /**
   * True while the node's certificate has expired within the re-enrolment window, read at each
   * connect. The broker then admits a restricted session (the node's csr and cert topics only):
   * the connection subscribes to `reenrolTopics` only, sends no hello, heartbeat or status, and
   * publish() sends nothing but the csr; the worker stays offline. The renewal's new certificate
   * (updateTls) reconnects normally.
   */
  reenrolling?: () => boolean;
  reenrolTopics?: string[];
  /** The connection's subscriptions were acknowledged (a csr sent now can get its answer). */
  onReady?: (o: { reenrolling: boolean }) => void;
  /** Every valid assignment as received (e.g. its gossip keys), after the worker has it. */
  onAssignment?: (a: MessageBodies["assign"]) => void;
}
