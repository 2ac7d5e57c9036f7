// Which configuration is in force. Following the thesis (§4.1), a server uses the latest
// configuration in its log, committed or not: a membership entry takes effect when appended,
// and is undone if a new leader truncates it. Single-server changes keep every majority of the
// old configuration overlapping every majority of the new one, and the leader starts a change
// only once the previous one is committed (see RawNode.proposeConfChange).
//
// This also fixes the liveness trap of applying changes at commit time: a follower that holds
// its leader's self-removal but has not yet learned that it committed still elects a new
// leader among the new members, without the removed one's vote.

import { decodeConfChange } from "./confchange.ts";
import { cloneConf } from "./storage.ts";
import type { ConfChange, ConfState, Entry } from "./types.ts";

/** Applies one change to a configuration; an invalid change is a no-op on every node alike. */
export function applyChange(cs: ConfState, cc: ConfChange): ConfState {
  const id = cc.nodeId;
  const voters = cs.voters.filter((v) => v !== id);
  const learners = cs.learners.filter((v) => v !== id);
  if (cc.type !== "addVoter" && voters.length === 0) return cloneConf(cs); // last voter stays
  if (cc.type === "addVoter") voters.push(id);
  if (cc.type === "addLearner") learners.push(id);
  return { voters: voters.sort((a, b) => a - b), learners: learners.sort((a, b) => a - b) };
}

export class Membership {
  private base: ConfState;
  /** Configurations introduced by membership entries after the snapshot, by index. */
  private history: { index: number; conf: ConfState }[] = [];

  constructor(base: ConfState) {
    this.base = cloneConf(base);
  }

  current(): ConfState {
    return this.history.at(-1)?.conf ?? this.base;
  }

  /** Index of the latest membership entry in the log (0 when there is none after the base). */
  lastChangeIndex(): number {
    return this.history.at(-1)?.index ?? 0;
  }

  /** The configuration in force as of log index i (what a snapshot at i must record). */
  at(i: number): ConfState {
    let conf = this.base;
    for (const h of this.history) if (h.index <= i) conf = h.conf;
    return cloneConf(conf);
  }

  /** Entries were appended from ents[0].index on, replacing whatever followed. */
  onAppend(ents: readonly Entry[]): boolean {
    if (ents.length === 0) return false;
    const before = this.current();
    const from = ents[0]!.index;
    this.history = this.history.filter((h) => h.index < from);
    for (const e of ents) {
      if (e.type !== "conf") continue;
      this.history.push({
        index: e.index,
        conf: applyChange(this.current(), decodeConfChange(e.data)),
      });
    }
    return this.current() !== before;
  }

  /** A snapshot replaced the log. */
  restore(conf: ConfState): void {
    this.base = cloneConf(conf);
    this.history = [];
  }
}
