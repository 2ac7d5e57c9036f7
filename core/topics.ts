// The MQTT topic layout (DESIGN §6), the single source of truth. Every topic lives under
// `fleet/<clusterId>/`. Device traffic is CBOR; operator-facing topics are JSON.

export const TOPIC_ROOT = "fleet";

/** Ids that may appear as one topic level: no wildcards, separators or control characters. */
const TOPIC_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function isTopicId(id: string): boolean {
  return TOPIC_ID.test(id);
}

function level(id: string, what: string): string {
  if (!isTopicId(id)) throw new Error(`topics: invalid ${what} ${JSON.stringify(id)}`);
  return id;
}

export type UplinkKind = "hello" | "hb" | "status" | "csr";
export type DownlinkKind = "assign" | "cert" | "logs";
export type EventKind = "node" | "service" | "task" | "leader" | "cluster";

export interface NodeTopic {
  clusterId: string;
  nodeId: string;
  kind: string;
}

export function topics(clusterId: string) {
  const root = `${TOPIC_ROOT}/${level(clusterId, "cluster id")}`;
  const node = (nodeId: string, kind: UplinkKind | DownlinkKind) =>
    `${root}/n/${level(nodeId, "node id")}/${kind}`;
  return {
    root,
    hello: (nodeId: string) => node(nodeId, "hello"),
    heartbeat: (nodeId: string) => node(nodeId, "hb"),
    status: (nodeId: string) => node(nodeId, "status"),
    csr: (nodeId: string) => node(nodeId, "csr"),
    assign: (nodeId: string) => node(nodeId, "assign"),
    cert: (nodeId: string) => node(nodeId, "cert"),
    /** Log requests to a node's agent (CBOR `logsRequest`, from any manager). */
    logs: (nodeId: string) => node(nodeId, "logs"),
    /** The agent's answer to one log request: `logsChunk` messages until `end`. */
    logsChunk: (nodeId: string, reqId: string) =>
      `${node(nodeId, "logs")}/${level(reqId, "log request id")}`,
    /** The leader's manager liveness beacon (CBOR `beacon`, QoS 0, not retained): managers
     * publish, every node subscribes. */
    beacon: `${root}/managers/beacon`,
    joinRequest: (reqId: string) => `${root}/join/${level(reqId, "join request id")}/req`,
    joinResponse: (reqId: string) => `${root}/join/${level(reqId, "join request id")}/resp`,
    gossip: (nodeId: string) => `${root}/gossip/${level(nodeId, "node id")}`,
    event: (kind: EventKind) => `${root}/events/${kind}`,
    nodeState: (nodeId: string) => `${root}/state/nodes/${level(nodeId, "node id")}`,
    serviceState: (serviceId: string) => `${root}/state/services/${level(serviceId, "service id")}`,
    /** Subscriptions a manager makes for all device uplinks. */
    uplinkFilters: [`${root}/n/+/hello`, `${root}/n/+/hb`, `${root}/n/+/status`, `${root}/n/+/csr`],
    joinRequestFilter: `${root}/join/+/req`,
    gossipFilter: `${root}/gossip/+`,
    eventsFilter: `${root}/events/#`,
    stateFilter: `${root}/state/#`,
  };
}

export type Topics = ReturnType<typeof topics>;

/** Parses `fleet/<cluster>/n/<node>/<kind>`; undefined for anything else. */
export function parseNodeTopic(topic: string): NodeTopic | undefined {
  const parts = topic.split("/");
  if (parts.length !== 5 || parts[0] !== TOPIC_ROOT || parts[2] !== "n") return undefined;
  const [, clusterId, , nodeId, kind] = parts as [string, string, string, string, string];
  if (!isTopicId(clusterId) || !isTopicId(nodeId)) return undefined;
  return { clusterId, nodeId, kind };
}

/** MQTT topic filter matching (`+` one level, `#` the rest), for ACLs and tests. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return i === f.length - 1;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
