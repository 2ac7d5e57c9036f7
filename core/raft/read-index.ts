// The leader's half of ReadIndex (thesis §6.4) and the routing of read responses.

import { msg } from "./message.ts";
import { voteResult } from "./quorum.ts";
import type { Raft } from "./raft.ts";
import { bcastHeartbeat } from "./replicate.ts";
import { type Message, NONE } from "./types.ts";

/** Has this leader committed an entry of its own term (so its commit index is current)? */
export function committedInCurrentTerm(r: Raft): boolean {
  return r.log.termOrZero(r.log.committed) === r.term;
}

/** A read request reached the leader (from itself, or forwarded by a follower). */
export function leaderReadIndex(r: Raft, m: Message): void {
  const ctx = m.context ?? new Uint8Array(0);
  if (r.tracker.voters.length === 1 && r.tracker.isVoter(r.id)) {
    respondRead(r, m.from, r.log.committed, ctx);
    return;
  }
  if (!committedInCurrentTerm(r)) {
    // Our commit index may lag the previous leader's until our no-op commits (§6.4 step 1).
    if (r.pendingReadIndexMessages.length < r.readOnly.maxPending) {
      r.pendingReadIndexMessages.push(m);
    }
    return;
  }
  if (!r.readOnly.add(r.log.committed, m.from, ctx)) return;
  r.readOnly.recvAck(r.id, ctx);
  bcastHeartbeat(r, ctx);
}

/** A heartbeat response echoed a read context: release reads once a quorum has answered. */
export function leaderReadAck(r: Raft, m: Message): void {
  if (!m.context) return;
  const acks = r.readOnly.recvAck(m.from, m.context);
  if (!acks || voteResult(r.tracker.voters, acks) !== "won") return;
  for (const rs of r.readOnly.advance(m.context)) respondRead(r, rs.from, rs.index, rs.context);
}

function respondRead(r: Raft, from: number, index: number, context: Uint8Array): void {
  if (from === NONE || from === r.id) r.readStates.push({ index, context });
  else r.send(msg({ type: "readIndexResp", to: from, index, context }));
}

export function releasePendingReadIndex(r: Raft): void {
  if (r.pendingReadIndexMessages.length === 0 || !committedInCurrentTerm(r)) return;
  const pending = r.pendingReadIndexMessages;
  r.pendingReadIndexMessages = [];
  for (const m of pending) leaderReadIndex(r, m);
}
