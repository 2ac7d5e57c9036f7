// Elections (thesis §3.4, pre-vote §9.6): asking for votes and answering requests for them.

import { msg } from "./message.ts";
import type { CampaignType, Raft } from "./raft.ts";
import { type Message, type MessageType, NONE } from "./types.ts";

/** Becomes (pre-)candidate and asks every other voter; a lone voter wins at once. */
export function campaign(r: Raft, t: CampaignType): void {
  const pre = t === "preElection";
  if (pre) r.becomePreCandidate();
  else r.becomeCandidate();
  const term = pre ? r.term + 1 : r.term;
  if (r.poll(r.id, true) === "won") {
    if (pre) campaign(r, "election");
    else r.becomeLeader();
    return;
  }
  for (const id of r.tracker.voters) {
    if (id === r.id) continue;
    r.send(
      msg({
        type: pre ? "preVote" : "vote",
        to: id,
        term,
        index: r.log.lastIndex(),
        logTerm: r.log.lastTerm(),
        transfer: t === "transfer" ? true : undefined,
      }),
    );
  }
}

/**
 * A pre-candidate that refused a peer's pre-vote (the peer's log is behind) and has no answer
 * from that peer to its own asks it again. The peer is campaigning, so it no longer honours a
 * leader lease: our first request may have been ignored under that lease (it arrived just
 * before the peer, too, saw the leader go), and neither of us could then win before a whole
 * election timeout passed. A pre-vote binds nothing, so asking twice is harmless.
 */
export function reaskPreVote(r: Raft, from: number): void {
  if (r.state !== "preCandidate" || r.tracker.votes.has(from)) return;
  r.send(
    msg({
      type: "preVote",
      to: from,
      term: r.term + 1,
      index: r.log.lastIndex(),
      logTerm: r.log.lastTerm(),
    }),
  );
}

/**
 * One vote per term (§3.4): grant it again to the same candidate (a retransmission), or to a
 * first asker when we follow nobody. A pre-vote for a later term binds nothing, so it is
 * granted on the log check alone (§9.6). The log check keeps leaders complete (§3.6.1).
 */
export function handleVoteRequest(r: Raft, m: Message): boolean {
  const canVote =
    r.vote === m.from ||
    (r.vote === NONE && r.lead === NONE) ||
    (m.type === "preVote" && m.term > r.term);
  const resp: MessageType = m.type === "vote" ? "voteResp" : "preVoteResp";
  if (canVote && r.log.isUpToDate(m.index, m.logTerm)) {
    // Persisted with the Ready before the response leaves (§3.8).
    r.send(msg({ type: resp, to: m.from, term: m.term }));
    if (m.type === "vote") {
      r.electionElapsed = 0;
      r.vote = m.from;
    }
    return true;
  }
  r.send(msg({ type: resp, to: m.from, term: r.term, reject: true }));
  return false;
}
