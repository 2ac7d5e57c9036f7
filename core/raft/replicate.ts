// Leader-side sending: appends within each follower's flow-control window, heartbeats, and
// snapshots streamed in chunks of at most snapshotChunkBytes (limits.raftSnapshotChunkBytesMax)
// when a follower needs entries we have compacted away.

import { msg } from "./message.ts";
import type { Progress } from "./progress.ts";
import type { Raft } from "./raft.ts";
import { isRaftError, type NodeId } from "./types.ts";

/**
 * Sends the entries `to` is missing, or a snapshot when they are compacted. With sendIfEmpty
 * false an empty append is not worth sending (used to fill the window). Returns whether a
 * message was sent.
 */
export function maybeSendAppend(r: Raft, to: NodeId, sendIfEmpty = true): boolean {
  const pr = r.tracker.progress.get(to);
  if (!pr || pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  let prevTerm: number;
  let entries: ReturnType<Raft["log"]["entriesFrom"]>;
  try {
    prevTerm = r.log.term(prevIndex);
    entries = r.log.entriesFrom(pr.next, r.maxAppendBytes);
  } catch (err) {
    if (!isRaftError(err, "compacted")) throw err;
    return sendSnapshot(r, to, pr);
  }
  if (entries.length === 0 && !sendIfEmpty) return false;
  r.send(
    msg({ type: "app", to, index: prevIndex, logTerm: prevTerm, entries, commit: r.log.committed }),
  );
  pr.sentEntries(prevIndex + entries.length, entries.length);
  return true;
}

function sendSnapshot(r: Raft, to: NodeId, pr: Progress): boolean {
  // Only to followers we heard from lately: a snapshot to a dead node is wasted bandwidth.
  if (!pr.recentActive) return false;
  let snap: ReturnType<Raft["log"]["snapshot"]>;
  try {
    snap = r.log.snapshot();
  } catch (err) {
    if (isRaftError(err, "snapshotTemporarilyUnavailable")) return false;
    throw err;
  }
  if (snap.metadata.index === 0) return false;
  pr.becomeSnapshot(snap);
  sendSnapshotChunk(r, to, pr);
  return true;
}

/** Sends the next unacknowledged chunk; one chunk is in flight per follower at a time. */
export function sendSnapshotChunk(r: Raft, to: NodeId, pr: Progress): void {
  const snap = pr.pendingSnapshot;
  if (!snap || pr.snapshotChunkInFlight) return;
  const offset = pr.snapshotAcked;
  const data = snap.data.subarray(offset, offset + r.snapshotChunkBytes);
  r.send(
    msg({
      type: "snap",
      to,
      snapshot: { metadata: snap.metadata, offset, totalBytes: snap.data.length, data },
    }),
  );
  pr.snapshotChunkInFlight = true;
}

export function bcastAppend(r: Raft): void {
  for (const id of r.tracker.progress.keys()) if (id !== r.id) maybeSendAppend(r, id);
}

/**
 * Heartbeats carry the commit index only up to what the follower is known to hold, so a
 * follower never commits an entry it may not have (etcd).
 */
export function bcastHeartbeat(r: Raft, context?: Uint8Array): void {
  for (const [id, pr] of r.tracker.progress) {
    if (id === r.id) continue;
    const commit = Math.min(pr.match, r.log.committed);
    r.send(msg({ type: "heartbeat", to: id, commit, context }));
  }
}

export function sendTimeoutNow(r: Raft, to: NodeId): void {
  r.send(msg({ type: "timeoutNow", to }));
}
