// How a leader reacts to each message: acknowledgements move progress and the commit index,
// rejections walk a follower's next index back, snapshot acks stream the next chunk.

import type { Raft } from "./raft.ts";
import { leaderReadAck, leaderReadIndex } from "./read-index.ts";
import { bcastAppend, maybeSendAppend, sendSnapshotChunk, sendTimeoutNow } from "./replicate.ts";
import { type Message, NONE } from "./types.ts";

export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case "prop":
      leaderPropose(r, m);
      return;
    case "readIndex":
      leaderReadIndex(r, m);
      return;
    case "transferLeader":
      transferLeadership(r, m.from);
      return;
    default:
      break;
  }
  const pr = r.tracker.progress.get(m.from);
  if (!pr) return; // not (or no longer) a member
  switch (m.type) {
    case "appResp":
      pr.recentActive = true;
      if (m.reject) handleAppendReject(r, m);
      else handleAppendAck(r, m);
      return;
    case "heartbeatResp":
      handleHeartbeatResp(r, m);
      return;
    case "snapResp":
      pr.recentActive = true;
      if (pr.state !== "snapshot" || pr.pendingSnapshot?.metadata.index !== m.index) return;
      pr.snapshotAcked = Math.min(m.rejectHint, pr.pendingSnapshot.data.length);
      pr.snapshotChunkInFlight = false;
      sendSnapshotChunk(r, m.from, pr);
      return;
    default:
      return;
  }
}

/** Appends a forwarded proposal (local proposals are checked and appended by RawNode). */
function leaderPropose(r: Raft, m: Message): void {
  if (r.leadTransferee !== NONE) return; // transferring: the new leader takes proposals
  // Membership changes are proposed on the leader itself, where pendingConfIndex is checked.
  if (m.from !== r.id && m.entries.some((e) => e.type === "conf")) return;
  if (!r.tracker.progress.has(r.id)) return;
  let bytes = 0;
  for (const e of m.entries) bytes += e.data.length;
  if (r.uncommittedBytes + bytes > r.maxUncommittedBytes) return;
  r.uncommittedBytes += bytes;
  r.appendEntries(m.entries);
  bcastAppend(r);
}

function handleAppendReject(r: Raft, m: Message): void {
  const pr = r.tracker.progress.get(m.from)!;
  if (!pr.maybeDecrTo(m.index, m.rejectHint)) return;
  if (pr.state === "replicate") pr.becomeProbe();
  maybeSendAppend(r, m.from);
}

function handleAppendAck(r: Raft, m: Message): void {
  const pr = r.tracker.progress.get(m.from)!;
  const wasPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index)) return;
  if (pr.state === "probe") pr.becomeReplicate();
  else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot!.metadata.index) {
    pr.becomeProbe();
  } else if (pr.state === "replicate") pr.inflights.freeLE(m.index);

  if (r.maybeCommit()) {
    bcastAppend(r); // followers learn the new commit index
  } else if (wasPaused) {
    maybeSendAppend(r, m.from);
  }
  // Fill the window: a follower in replicate state gets entries in a pipeline.
  while (maybeSendAppend(r, m.from, false)) {}
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) sendTimeoutNow(r, m.from);
}

function handleHeartbeatResp(r: Raft, m: Message): void {
  const pr = r.tracker.progress.get(m.from)!;
  pr.recentActive = true;
  pr.probeSent = false;
  // A heartbeat round trip frees one slot: the window may hold lost messages (etcd).
  if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirst();
  if (pr.state === "snapshot") {
    // Chunks may have been lost: resend the unacknowledged one, at most once per heartbeat.
    pr.snapshotChunkInFlight = false;
    sendSnapshotChunk(r, m.from, pr);
  } else if (pr.match < r.log.lastIndex()) {
    maybeSendAppend(r, m.from);
  }
  leaderReadAck(r, m);
}

/** Leader transfer (thesis §3.10): bring the target up to date, then tell it to campaign. */
function transferLeadership(r: Raft, transferee: number): void {
  const pr = r.tracker.progress.get(transferee);
  if (!pr || pr.isLearner) return;
  if (r.leadTransferee !== NONE) {
    if (r.leadTransferee === transferee) return;
    r.abortLeaderTransfer();
  }
  if (transferee === r.id) return;
  // The transfer must finish within an election timeout or it is abandoned.
  r.electionElapsed = 0;
  r.leadTransferee = transferee;
  if (pr.match === r.log.lastIndex()) sendTimeoutNow(r, transferee);
  else maybeSendAppend(r, transferee);
}
