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

  // Dispatcher.
  statusBatchItemsMax: 1000,
  statusBatchIntervalMs: 100,
  heartbeatPeriodMsDefault: 5000,
  heartbeatMissedMax: 3,
  leaderChangeGracePeriods: 6,
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
