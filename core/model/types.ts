// The cluster's objects. Names and meanings follow Docker swarm's (camelCase), so a swarm user
// recognises them. Every stored object carries `version`: the Raft index of its last write.

import type { GossipKeyRing } from "../gossip-keys.ts";
import type { TaskStateValue } from "./task-state.ts";

export type Labels = Record<string, string>;

export interface Meta {
  id: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}

// ---- Node -----------------------------------------------------------------------------------

export type NodeRole = "worker" | "manager";
export type NodeAvailability = "active" | "pause" | "drain";
export type NodeState = "unknown" | "ready" | "down" | "disconnected";
export type Reachability = "unknown" | "reachable" | "unreachable";

export interface Platform {
  os: string;
  arch: string;
  variant?: string;
}

export interface Resources {
  nanoCPUs: number;
  memoryBytes: number;
}

export interface NodeDescription {
  hostname: string;
  platform: Platform;
  resources: Resources;
  /** Engine labels, including the agent-detected hardware labels (`hw.storage`, `hw.board`…). */
  engineLabels: Labels;
}

export interface NodeSpec {
  role: NodeRole;
  availability: NodeAvailability;
  labels: Labels;
}

export interface NodeStatus {
  state: NodeState;
  message?: string;
  addr?: string;
  lastSeen?: number;
}

export interface NodeCertificate {
  serial: string;
  notAfter: number;
  /** The OU of the recorded certificate; absent in records written before role tracking. */
  role?: "worker" | "manager";
  /** Certificates of this node for another role, revoked once it no longer uses them
   * (promotion and demotion: manager/ca/role-reissue.ts). */
  superseded?: NodeCertificate[];
}

export interface ManagerStatus {
  raftId: string;
  /** Raft peer address, host:port. */
  addr: string;
  /** The embedded broker's address (host:port), for agents and the broker mesh. */
  brokerAddr?: string;
  reachability: Reachability;
  leader: boolean;
}

export interface Node extends Meta {
  description: NodeDescription;
  spec: NodeSpec;
  status: NodeStatus;
  certificate?: NodeCertificate;
  managerStatus?: ManagerStatus;
}

// ---- Service --------------------------------------------------------------------------------

export type ServiceMode =
  | { replicated: { replicas: number } }
  | { global: Record<string, never> }
  | { replicatedJob: { maxConcurrent: number; totalCompletions: number } }
  | { globalJob: Record<string, never> };

export interface Mount {
  type: "bind" | "volume" | "tmpfs";
  source?: string;
  target: string;
  readOnly?: boolean;
}

export interface Healthcheck {
  test: string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startPeriodMs?: number;
}

export interface ContainerSpec {
  image: string;
  command?: string[];
  args?: string[];
  env?: string[];
  mounts?: Mount[];
  healthcheck?: Healthcheck;
  user?: string;
  devices?: string[];
  privileged?: boolean;
  stopGracePeriodMs?: number;
  labels?: Labels;
}

export interface ResourceRequirements {
  reservations?: Partial<Resources>;
  limits?: Partial<Resources>;
}

export type RestartCondition = "none" | "on-failure" | "any";

export interface RestartPolicy {
  condition: RestartCondition;
  delayMs: number;
  maxAttempts: number;
  windowMs: number;
}

export interface PlacementPreference {
  spread: string;
}

export interface Placement {
  constraints: string[];
  preferences: PlacementPreference[];
  maxReplicasPerNode: number;
  platforms: Platform[];
}

export interface TaskTemplate {
  containerSpec: ContainerSpec;
  resources: ResourceRequirements;
  restartPolicy: RestartPolicy;
  placement: Placement;
  /** Bumped by `service update --force` to redeploy an unchanged spec. */
  forceUpdate: number;
}

export type FailureAction = "pause" | "continue" | "rollback";
export type UpdateOrder = "stop-first" | "start-first";

export interface UpdateConfig {
  parallelism: number;
  delayMs: number;
  failureAction: FailureAction;
  monitorMs: number;
  maxFailureRatio: number;
  order: UpdateOrder;
}

export interface PortConfig {
  protocol: "tcp" | "udp";
  targetPort: number;
  publishedPort: number;
  publishMode: "host";
}

export interface EndpointSpec {
  ports: PortConfig[];
}

export interface ServiceSpec {
  name: string;
  labels: Labels;
  mode: ServiceMode;
  taskTemplate: TaskTemplate;
  updateConfig: UpdateConfig;
  rollbackConfig: UpdateConfig;
  endpointSpec: EndpointSpec;
}

export type UpdateState =
  | "updating"
  | "paused"
  | "completed"
  | "rollback_started"
  | "rollback_paused"
  | "rollback_completed";

export interface UpdateStatus {
  state: UpdateState;
  startedAt?: number;
  completedAt?: number;
  message: string;
  /** The service specVersion this status is about (a pause holds until the spec changes). */
  specVersion?: number;
}

export interface Service extends Meta {
  spec: ServiceSpec;
  /** Version of `spec`: bumps on every spec change; tasks record the one they run. */
  specVersion: number;
  previousSpec?: ServiceSpec;
  updateStatus?: UpdateStatus;
}

// ---- Task -----------------------------------------------------------------------------------

export interface TaskStatus {
  state: TaskStateValue;
  timestamp: number;
  message: string;
  err?: string;
  containerId?: string;
  exitCode?: number;
}

export interface Task extends Meta {
  serviceId: string;
  /** Replicated services: 1-based slot. Global services: 0 (the node identifies the task). */
  slot: number;
  /** Empty until the scheduler assigns the task. */
  nodeId: string;
  spec: TaskTemplate;
  specVersion: number;
  desiredState: TaskStateValue;
  status: TaskStatus;
}

// ---- Cluster --------------------------------------------------------------------------------

export interface ClusterSpec {
  name: string;
  heartbeatPeriodMs: number;
  nodeCertExpiryMs: number;
  /** How long after expiry a node may still re-enrol with its old key (0: never; it joins
   * again). Absent in clusters made before the setting: clusterReenrolWindowMs gives 30 days. */
  reenrolWindowMs?: number;
  /** Agent-to-agent gossip, cluster-wide (an agent's own `--gossip off` still wins). Absent in
   * clusters made before the setting: clusterGossip gives the default, on. */
  gossip?: boolean;
  taskHistoryLimit: number;
  snapshotIntervalEntries: number;
  dispatcherGracePeriods: number;
  autolock: boolean;
}

export interface RootCA {
  certPem: string;
  /** PEM, or the encrypted key when autolock is on. */
  keyPem: string;
  keyEncrypted: boolean;
  digest: string;
}

export interface JoinTokenHashes {
  worker: string;
  manager: string;
}

/** What the CA revoked (contract 5): serials until they lapse, removed node ids forever. */
export interface ClusterRevocations {
  serials: { serial: string; notAfterMs: number; revokedAtMs: number }[];
  removedNodes: string[];
}

export interface Cluster extends Meta {
  spec: ClusterSpec;
  rootCA?: RootCA;
  joinTokens?: JoinTokenHashes;
  /** The join tokens themselves, for `fleet join-token` (swarm keeps them in its store too). */
  joinTokenStrings?: JoinTokenHashes;
  /**
   * Hex SHA-256 of the public keys that joined, newest last (bounded by
   * limits.joinSeenKeysMax): a replayed join request is refused by any leader.
   */
  joinedKeys?: string[];
  revocations?: ClusterRevocations;
  /** The gossip key ring (core/gossip-keys.ts): agents get it in their assignments. */
  gossipKeys?: GossipKeyRing;
}

export type TableName = "nodes" | "services" | "tasks" | "clusters";

export interface ObjectOf {
  nodes: Node;
  services: Service;
  tasks: Task;
  clusters: Cluster;
}

export type AnyObject = ObjectOf[TableName];
