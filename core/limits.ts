// Every bound in fleet, with its unit last in its name. Relations between them are asserted at
// load time, so an inconsistent edit fails the first import instead of a production cluster.

export const limits = {
  // Wire and disk encoding.
  /** Largest CBOR payload the codec will encode or decode. */
  messageBytesMax: 1024 * 1024,
  /** Largest device uplink payload (hello, status batch, heartbeat). */
  uplinkBytesMax: 256 * 1024,
  /** Deepest nesting the codec's shape validation follows. */
  codecDepthMax: 32,

  // Model.
  nameLengthMax: 63,
  labelsPerObjectMax: 256,
  labelKeyLengthMax: 128,
  labelValueLengthMax: 1024,
  constraintsPerServiceMax: 64,
  constraintLengthMax: 512,
  /** Values in one `key in (a, b, …)` constraint. */
  constraintSetValuesMax: 64,
  envPerContainerMax: 512,
  mountsPerContainerMax: 64,
  portsPerServiceMax: 256,
  argsPerContainerMax: 1024,
  replicasMax: 100_000,
  taskHistoryPerSlotMax: 100,

  // Scheduler.
  /** Filter reasons listed in one PENDING message before "and N more". */
  pendingMessageReasonsMax: 8,

  // Store.
  /** Actions per store batch transaction before it is split (keeps Raft entries bounded). */
  storeBatchActionsMax: 1000,
  /** Events buffered per watcher before it is closed as too slow. */
  watchQueueEventsMax: 100_000,

  // Raft.
  raftEntryBytesMax: 512 * 1024,
  raftMessageBytesMax: 4 * 1024 * 1024,
  raftInflightMessagesMax: 256,
  raftSnapshotChunkBytesMax: 1024 * 1024,
  /** Entry bytes per append message (etcd MaxSizePerMsg); one entry is always sent. */
  raftAppendBytesMax: 1024 * 1024,
  /** Uncommitted proposal bytes a leader holds before refusing more (etcd MaxUncommittedSize). */
  raftUncommittedBytesMax: 64 * 1024 * 1024,
  /** Committed entry bytes handed to the application per Ready. */
  raftCommittedBytesPerReadyMax: 4 * 1024 * 1024,
  /** ReadIndex requests a leader queues awaiting a heartbeat quorum. */
  raftReadIndexPendingMax: 4096,
  /** Default election timeout in ticks (randomised in [t, 2t)) and heartbeat interval. */
  raftElectionTicksDefault: 10,
  raftHeartbeatTicksDefault: 1,

  // Raft I/O (manager/raft): write-ahead log, snapshot files, peer transport.
  /** Largest CBOR payload of one WAL record: an entry's data plus its envelope. */
  walRecordBytesMax: 512 * 1024 + 4096,
  /** A WAL segment rotates before a batch would take it past this (one batch may exceed it). */
  walSegmentBytesMax: 16 * 1024 * 1024,
  /** Largest snapshot file, header and CRC included; loading reads it whole into memory. */
  snapshotFileBytesMax: 256 * 1024 * 1024,
  /** Snapshot files kept on disk, newest first; older ones are removed after a new one. */
  snapshotFilesKept: 3,
  /** Messages queued per peer before new ones are dropped and the peer reported unreachable. */
  peerQueueMessagesMax: 4096,
  /** Bytes queued per peer before new messages are dropped. */
  peerQueueBytesMax: 64 * 1024 * 1024,
  /** First reconnect delay to a peer; doubles per failure up to the cap, with jitter. */
  peerBackoffBaseMs: 50,
  peerBackoffMaxMs: 2000,
  /** A peer connection that does not open (or say hello) within this is abandoned. */
  peerConnectTimeoutMs: 3000,
  /** Inbound peer connections accepted at once; more are refused until some close. */
  peerInboundConnectionsMax: 64,
  /** A peer connection whose unsent bytes stop shrinking for this long is dropped, redialed. */
  peerWriteStallMs: 10_000,

  // Broker (manager/broker): the embedded aedes broker and the broker mesh.
  /** Largest MQTT packet (fixed header excluded) a client may send; larger ones cut the link. */
  brokerPacketBytesMax: 1024 * 1024 + 128 * 1024,
  /** Client connections held at once, mesh links included; more are refused at accept. */
  brokerConnectionsMax: 16_384,
  /** Longest client id accepted (node ids are up to 128 characters, plus a prefix). */
  brokerClientIdLengthMax: 160,
  /** Inbound QoS 2 publishes per client awaiting PUBREL before the client is cut. */
  brokerInboundInflightMax: 128,
  /** Packets a client may pipeline before its CONNECT is answered. */
  brokerPreConnectPacketsMax: 32,
  /** A connection that has not sent CONNECT within this is closed. */
  brokerConnectTimeoutMs: 10_000,
  /** A client whose socket does not drain within this is cut (bounds outbound buffering). */
  brokerDrainTimeoutMs: 30_000,
  /** Retained topics held; a retained publish on a new topic past this is delivered, not kept. */
  brokerRetainedTopicsMax: 200_000,
  /** A TLS handshake (broker, Raft transport, API) not finished within this is cut. */
  tlsHandshakeTimeoutMs: 10_000,
  /** Bytes the mesh envelope adds to a forwarded payload, at most (origin id included). */
  meshEnvelopeBytesMax: 512,
  /** QoS 1 messages sent to one peer and not yet acknowledged. */
  meshInflightMessagesMax: 512,
  /** Messages queued for one peer (down or busy) before new ones are dropped and reported. */
  meshQueueMessagesMax: 20_000,
  /** Payload bytes queued for one peer before new messages are dropped and reported. */
  meshQueueBytesMax: 32 * 1024 * 1024,
  /** Sequence numbers a receiver remembers per peer to drop resent duplicates. */
  meshDedupWindowMessages: 65_536,
  /** Cleared retained topics remembered (with their version) so clears win over stale sets. */
  meshTombstonesMax: 50_000,
  /** First reconnect delay to a peer broker; doubles per failure up to the cap, with jitter. */
  meshBackoffBaseMs: 100,
  meshBackoffMaxMs: 5000,
  /** A peer link whose CONNACK does not arrive within this is abandoned and retried. */
  meshConnectTimeoutMs: 5000,

  // Orchestrator (core/orchestrator).
  /** Default wait before tasks on a down node are replaced (service label fleet.disconnect-grace). */
  disconnectGraceMsDefault: 30_000,
  /** Longest disconnect grace a service may ask for. */
  disconnectGraceMsMax: 7 * 24 * 60 * 60 * 1000,
  /** How long a task failure on a node ranks that node last for the service. */
  schedulerFailureMemoryMs: 5 * 60 * 1000,
  /** Failures remembered per service by the scheduling loop (oldest dropped first). */
  schedulerFailuresPerServiceMax: 1024,
  /** Failures of a service on a node, within the memory, that rank the node last (swarm: 5). */
  schedulerFailuresToAvoidNode: 5,
  /** A rebalance that gave up (no room, no progress) looks again after this. */
  rebalanceRetryMs: 60_000,
  /** Rounds of loop steps one settle may take before the loops are declared to ping-pong. */
  orchestratorSettleRoundsMax: 64,
  /** Restart timestamps remembered per slot for maxAttempts (the policy's own max is lower). */
  restartHistoryPerSlotMax: 1024,

  // Dispatcher.
  statusBatchItemsMax: 1000,
  statusBatchIntervalMs: 100,
  heartbeatPeriodMsDefault: 5000,
  heartbeatMissedMax: 3,
  leaderChangeGracePeriods: 6,
  /** Status updates held while a store write is in flight; more are dropped (and counted). */
  statusQueueItemsMax: 50_000,
  /** A status batch the store rejected as a conflict is re-validated and retried this often. */
  statusWriteRetriesMax: 3,
  /** Task changes for one node within this window become one assignment publish. */
  assignmentCoalesceMs: 20,
  /** Per-service retained state (running/desired counts) is republished at most this often. */
  serviceStateCoalesceMs: 1000,
  /** Liveness checks per heartbeat period (a DOWN verdict is late by at most one check). */
  heartbeatChecksPerPeriod: 5,
  /** Nodes whose assignment (and, at leader start, state) are published per event-loop turn. */
  leaderStartPublishChunk: 500,
  /** Store watch events the dispatcher handles per event-loop turn before yielding. */
  watchEventsPerTurn: 1000,
  /** How long stop() waits for queued status writes (a deposed leader's may never commit). */
  dispatcherStopDrainMs: 5000,
  /** One log line per kind of dropped device input per this many ms (the rest are counted). */
  dropLogIntervalMs: 10_000,
  /** Publishes the dispatcher's MQTT client has unacknowledged at once; later ones wait. */
  busPublishInflightMax: 1000,
  /** Publishes waiting behind those before new ones are refused (and logged). */
  busPublishQueueMax: 200_000,
  // Security (core/crypto, manager/ca): identities, certificates, join tokens, revocation.
  /** Longest PEM text the identity layer reads (a CA bundle of a few certificates fits). */
  pemBytesMax: 64 * 1024,
  /** Largest DER certificate accepted or issued. */
  certBytesMax: 8 * 1024,
  /** Default node certificate lifetime (swarm: 90 days; cluster spec nodeCertExpiryMs). */
  nodeCertExpiryMsDefault: 90 * 24 * 60 * 60 * 1000,
  /** Shortest node certificate lifetime `cluster update --cert-expiry` accepts (swarm: 1 h). */
  nodeCertExpiryMsMin: 60 * 60 * 1000,
  /** Root CA certificate lifetime (swarm: 20 years). */
  caCertExpiryMs: 20 * 365 * 24 * 60 * 60 * 1000,
  /** notBefore is set this far in the past so a slightly slow clock accepts a fresh cert. */
  certBackdateMs: 5 * 60 * 1000,
  /** Default window after expiry in which a node may re-enrol by signing with its old key
   * (cluster spec reenrolWindowMs, `fleet cluster update --reenrol-window`; 0 turns it off). */
  reenrolWindowMsDefault: 30 * 24 * 60 * 60 * 1000,
  /** Longest re-enrolment window `cluster update --reenrol-window` accepts (a year). */
  reenrolWindowMsMax: 365 * 24 * 60 * 60 * 1000,
  /** Random serial number bytes (RFC 5280 allows 20 octets; the top bit is cleared). */
  certSerialBytes: 16,
  /** Join token secret bytes (128 bits, as swarm's). */
  joinTokenSecretBytes: 16,
  /** Subject alternative names on one certificate. */
  certSanEntriesMax: 32,
  /** Revoked serials held; removal past this refuses (never forgets a revocation silently). */
  revokedSerialsMax: 1_000_000,
  /** Public keys remembered from recent joins, to refuse a replayed join request. */
  joinSeenKeysMax: 100_000,
  /** Joined public-key hashes kept in the cluster object (store-backed replay check). */
  joinedKeysStoredMax: 2048,
  /** A joining node waits this long for the CA's answer on one manager before trying the next. */
  joinResponseTimeoutMsDefault: 10_000,
  /** Rounds over the manager list a join makes (jittered backoff between) before giving up. */
  joinRoundsDefault: 4,
  /** A generated CRL's validity (nextUpdate); brokers refuse every client once it lapses. */
  crlValidityMsDefault: 7 * 24 * 60 * 60 * 1000,

  // Agent (edge-agent/): session, worker, offline autonomy.
  /** First reconnect delay of an agent's MQTT session; doubles per failure, equal jitter. */
  agentBackoffBaseMs: 250,
  /** Longest reconnect delay of an agent's MQTT session (DESIGN §5: cap 30 s). */
  agentBackoffMaxMs: 30_000,
  /** An MQTT connection whose CONNACK does not arrive within this is abandoned. */
  agentConnectTimeoutMs: 5000,
  /** How often the worker looks at all its containers anyway: a safety net, since the engine's
   * event stream wakes it at once for every container change (edge-agent/executor). */
  agentPollIntervalMsDefault: 10_000,
  /** No manager for this long: the agent restarts exited tasks itself (3 missed heartbeats). */
  agentOfflineAfterMsDefault: 15_000,
  /** Beacon periods without hearing a manager (beacon or live assignment) after which an agent
   * that has heard beacons on its connection stops counting as online. */
  agentManagerSilentPeriods: 3,
  /** Steps one task may take in one pass (ACCEPTED -> RUNNING is five). */
  agentStepsPerTaskMax: 8,
  /** Stop grace for a container whose task's spec is no longer known (swarm's default). */
  agentOrphanGraceMs: 10_000,
  /** Pull progress goes into the PREPARING status at most this often. */
  agentPullProgressIntervalMs: 1000,
  /** Offline restart times remembered per task (for maxAttempts within a window). */
  agentRestartHistoryMax: 1000,

  // Gossip (core/gossip*.ts, edge-agent/gossip*.ts): sealed agent-to-agent status.
  /** Largest sealed gossip payload (envelope included) an agent sends or opens. */
  gossipBytesMax: 16 * 1024,
  /** Keys in the cluster's gossip key ring (the current one and those in their grace). */
  gossipKeysMax: 8,
  /** How long a rotated-out gossip key still opens messages by default. */
  gossipKeyGraceMsDefault: 60 * 60 * 1000,
  /** Longest grace an operator may give a rotated-out gossip key. */
  gossipKeyGraceMsMax: 30 * 24 * 60 * 60 * 1000,
  /** An agent republishes its gossip at least this often (more rarely in large fleets). */
  gossipRefreshMsMin: 60_000,
  /** ... and on a change, but never more often than this (more rarely in large fleets). */
  gossipIntervalMsMin: 5000,
  /** Per peer known, the refresh period grows by this (each agent receives ~1 message/s). */
  gossipRefreshMsPerPeer: 1000,
  /** A peer not heard from for this many refresh periods leaves the table. */
  gossipStalePeriods: 3,
  /** Peers an agent keeps in its table; past it the stalest are dropped. */
  gossipPeersMax: 10_000,
  /** Services listed in one gossip status. */
  gossipServicesMax: 128,
} as const;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`limits: inconsistent bounds: ${what}`);
}

check(limits.uplinkBytesMax <= limits.messageBytesMax, "uplinkBytesMax <= messageBytesMax");
check(limits.raftEntryBytesMax <= limits.raftMessageBytesMax, "an entry must fit in a message");
check(
  limits.raftSnapshotChunkBytesMax < limits.raftMessageBytesMax,
  "a snapshot chunk must fit in a message",
);
check(
  limits.raftAppendBytesMax + limits.raftEntryBytesMax <= limits.raftMessageBytesMax,
  "an append message (its byte budget plus one oversized entry) fits a raft message",
);
check(limits.raftEntryBytesMax <= limits.raftUncommittedBytesMax, "one entry fits uncommitted");
check(
  limits.raftHeartbeatTicksDefault < limits.raftElectionTicksDefault,
  "heartbeats come more often than elections",
);
check(limits.constraintsPerServiceMax + 3 <= 255, "a scheduler static verdict fits a byte");
check(limits.messageBytesMax <= limits.raftMessageBytesMax, "a wire message fits a raft message");
check(
  limits.statusBatchItemsMax <= limits.storeBatchActionsMax,
  "a status batch fits a store batch",
);
check(limits.walRecordBytesMax > limits.raftEntryBytesMax, "a WAL record holds a whole entry");
check(limits.walRecordBytesMax < limits.walSegmentBytesMax, "a WAL record fits a segment");
check(limits.peerQueueBytesMax >= limits.raftMessageBytesMax, "a peer queue holds one message");
check(limits.peerBackoffBaseMs <= limits.peerBackoffMaxMs, "backoff base <= backoff cap");
check(limits.snapshotFilesKept >= 1, "at least one snapshot file is kept");
check(limits.heartbeatMissedMax < limits.leaderChangeGracePeriods, "grace exceeds the down bound");
check(
  limits.messageBytesMax + limits.meshEnvelopeBytesMax + 65_540 <= limits.brokerPacketBytesMax,
  "a wire message with a topic and the mesh envelope fits a broker packet",
);
check(
  limits.meshInflightMessagesMax * 4 <= limits.meshDedupWindowMessages,
  "the dedup window covers every resend of an inflight window, with margin",
);
check(limits.meshInflightMessagesMax < 65_535, "inflight fits MQTT's 16-bit packet ids");
check(limits.meshBackoffBaseMs <= limits.meshBackoffMaxMs, "mesh backoff base <= cap");
check(limits.meshQueueBytesMax >= limits.brokerPacketBytesMax, "a mesh queue holds one packet");
check(
  limits.statusQueueItemsMax >= limits.statusBatchItemsMax,
  "the status queue holds a whole batch",
);
check(limits.assignmentCoalesceMs < limits.statusBatchIntervalMs, "assignments go out promptly");
check(limits.heartbeatChecksPerPeriod >= 1, "at least one liveness check per period");
check(limits.disconnectGraceMsDefault <= limits.disconnectGraceMsMax, "default grace <= max");
check(limits.nodeCertExpiryMsMin <= limits.nodeCertExpiryMsDefault, "default cert expiry >= min");
check(limits.nodeCertExpiryMsDefault < limits.caCertExpiryMs, "node certs expire before the CA");
check(limits.certBackdateMs * 10 < limits.nodeCertExpiryMsMin, "backdating is a small share");
check(limits.reenrolWindowMsDefault <= limits.reenrolWindowMsMax, "default re-enrol window <= max");
check(limits.certSerialBytes <= 20, "RFC 5280 §4.1.2.2: serials are at most 20 octets");
check(limits.certBytesMax * 4 <= limits.pemBytesMax, "a PEM bundle holds a few certificates");
check(limits.agentBackoffBaseMs <= limits.agentBackoffMaxMs, "agent backoff base <= cap");
check(
  limits.agentOfflineAfterMsDefault >= limits.heartbeatPeriodMsDefault * limits.heartbeatMissedMax,
  "an agent goes autonomous no sooner than its manager would call it down",
);
check(limits.gossipKeyGraceMsDefault <= limits.gossipKeyGraceMsMax, "default grace <= max");
check(limits.gossipBytesMax <= limits.uplinkBytesMax, "gossip fits an uplink");
