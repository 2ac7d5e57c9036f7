// Building and describing messages. Descriptions are the lines scenario tests print, so they
// show what matters to a reader and nothing that varies between runs.

import type { Entry, Message, MessageType, NodeId } from "./types.ts";
import { NONE } from "./types.ts";

/** Builds a message with empty defaults; callers set what matters. */
export function msg(p: Partial<Message> & { type: MessageType; to: NodeId }): Message {
  return {
    from: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...p,
  };
}

const text = new TextDecoder();

export function describeEntry(e: Entry): string {
  const data = e.type === "conf" ? "conf" : text.decode(e.data);
  return `${e.term}/${e.index}${data ? ` ${data}` : ""}`;
}

export function describeMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case "app":
      s += ` prev=${m.logTerm}/${m.index} commit=${m.commit}`;
      if (m.entries.length > 0) s += ` [${m.entries.map(describeEntry).join(", ")}]`;
      break;
    case "appResp":
      s += m.reject ? ` reject=${m.index} hint=${m.rejectHint}` : ` index=${m.index}`;
      break;
    case "vote":
    case "preVote":
      s += ` last=${m.logTerm}/${m.index}${m.transfer ? " transfer" : ""}`;
      break;
    case "voteResp":
    case "preVoteResp":
      s += m.reject ? " rejected" : " granted";
      break;
    case "heartbeat":
      s += ` commit=${m.commit}`;
      break;
    case "snap": {
      const c = m.snapshot!;
      s += ` snap=${c.metadata.term}/${c.metadata.index} bytes=${c.offset}+${c.data.length}/${c.totalBytes}`;
      break;
    }
    case "snapResp":
      s += ` snap=${m.index} received=${m.rejectHint}`;
      break;
    case "readIndexResp":
      s += ` index=${m.index}`;
      break;
    case "prop":
      s += ` [${m.entries.map(describeEntry).join(", ")}]`;
      break;
    default:
      break;
  }
  if (m.context) s += ` ctx=${text.decode(m.context)}`;
  return s;
}
