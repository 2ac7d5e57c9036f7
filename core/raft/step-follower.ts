// How followers and (pre-)candidates react to messages: accept the leader's appends after the
// consistency check (thesis §3.5), assemble snapshot chunks, count votes, forward requests.

import { msg } from "./message.ts";
import type { Raft } from "./raft.ts";
import { bcastAppend } from "./replicate.ts";
import { type Message, NONE, type Snapshot } from "./types.ts";

export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case "prop":
    case "transferLeader":
    case "readIndex":
      // Forward to the leader; without one the request is dropped (the caller retries).
      if (r.lead === NONE) return;
      r.send({ ...m, to: r.lead });
      return;
    case "app":
    case "heartbeat":
    case "snap":
      r.electionElapsed = 0;
      r.lead = m.from;
      handleFromLeader(r, m);
      return;
    case "timeoutNow":
      // Leadership transfers skip pre-vote: the old leader asked for it (§3.10).
      if (r.promotable()) r.hup("transfer");
      return;
    case "readIndexResp":
      r.readStates.push({ index: m.index, context: m.context ?? new Uint8Array(0) });
      return;
    default:
      return;
  }
}

export function stepCandidate(r: Raft, m: Message): void {
  const myVoteResp = r.state === "preCandidate" ? "preVoteResp" : "voteResp";
  switch (m.type) {
    case "app":
    case "heartbeat":
    case "snap":
      // Someone won this term (§3.4): follow it.
      r.becomeFollower(m.term, m.from);
      handleFromLeader(r, m);
      return;
    case "preVoteResp":
    case "voteResp": {
      if (m.type !== myVoteResp) return;
      const result = r.poll(m.from, !m.reject);
      if (result === "won") {
        if (r.state === "preCandidate") r.campaign("election");
        else {
          r.becomeLeader();
          bcastAppend(r);
        }
      } else if (result === "lost") {
        r.becomeFollower(r.term, NONE);
      }
      return;
    }
    default:
      return; // proposals are dropped while campaigning; timeoutNow is ignored
  }
}

function handleFromLeader(r: Raft, m: Message): void {
  if (m.type === "app") handleAppendEntries(r, m);
  else if (m.type === "heartbeat") handleHeartbeat(r, m);
  else handleSnapshotChunk(r, m);
}

function handleAppendEntries(r: Raft, m: Message): void {
  if (m.index < r.log.committed) {
    r.send(msg({ type: "appResp", to: m.from, index: r.log.committed }));
    return;
  }
  const lastNew = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew !== undefined) {
    r.send(msg({ type: "appResp", to: m.from, index: lastNew }));
  } else {
    // Tell the leader where our log ends so it can skip back in one step (§3.5).
    const hint = Math.min(m.index, r.log.lastIndex());
    r.send(msg({ type: "appResp", to: m.from, index: m.index, reject: true, rejectHint: hint }));
  }
}

function handleHeartbeat(r: Raft, m: Message): void {
  r.log.commitTo(m.commit);
  r.send(msg({ type: "heartbeatResp", to: m.from, context: m.context }));
}

function snapshotKey(s: Snapshot["metadata"]): string {
  return `${s.term}/${s.index}`;
}

/**
 * Assembles a streamed snapshot. Chunks must arrive in order; a duplicate, gap or chunk of
 * another snapshot is answered with how much we hold, and the leader resends from there.
 */
function handleSnapshotChunk(r: Raft, m: Message): void {
  const c = m.snapshot!;
  const meta = c.metadata;
  if (meta.index <= r.log.committed) {
    r.incomingSnapshot = undefined;
    r.send(msg({ type: "appResp", to: m.from, index: r.log.committed }));
    return;
  }
  const key = snapshotKey(meta);
  if (c.offset === 0 && r.incomingSnapshot?.key !== key) {
    r.incomingSnapshot = { key, chunks: [], received: 0 };
  }
  const inc = r.incomingSnapshot;
  if (inc?.key === key && inc.received === c.offset && c.offset + c.data.length <= c.totalBytes) {
    inc.chunks.push(c.data.slice());
    inc.received += c.data.length;
  }
  const received = inc?.key === key ? inc.received : 0;
  if (received < c.totalBytes || inc === undefined) {
    r.send(msg({ type: "snapResp", to: m.from, index: meta.index, rejectHint: received }));
    return;
  }
  r.incomingSnapshot = undefined;
  const snap: Snapshot = { metadata: meta, data: concat(inc.chunks, c.totalBytes) };
  const restored = restore(r, snap);
  const index = restored ? r.log.lastIndex() : r.log.committed;
  r.send(msg({ type: "appResp", to: m.from, index }));
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Installs a leader's snapshot unless our log already holds its last entry (§5.3). */
function restore(r: Raft, s: Snapshot): boolean {
  const { index, term } = s.metadata;
  if (index <= r.log.committed) return false;
  if (r.log.matchTerm(index, term)) {
    // Our log contains the snapshot's last entry: keep the entries after it (§5.3 step 7).
    r.log.commitTo(index);
    return false;
  }
  r.log.restore(s);
  r.restoreMembership(s.metadata.confState);
  return true;
}
