import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeCbor, encodeCbor } from "../codec/cbor.ts";
import { limits } from "../limits.ts";
import { msg } from "./message.ts";
import { isRaftError, type Message } from "./types.ts";
import { parseMessage } from "./validate.ts";

const app = msg({
  type: "app",
  from: 1,
  to: 2,
  term: 3,
  index: 4,
  logTerm: 3,
  commit: 4,
  entries: [{ term: 3, index: 5, type: "normal", data: new Uint8Array([1, 2]) }],
});

test("a message survives CBOR encoding and validation unchanged", () => {
  const back = parseMessage(decodeCbor(encodeCbor(app)));
  assert.deepEqual(back, app);
  const snap: Message = msg({
    type: "snap",
    from: 1,
    to: 2,
    term: 3,
    snapshot: {
      metadata: { index: 9, term: 3, confState: { voters: [1, 2], learners: [] } },
      offset: 0,
      totalBytes: 2,
      data: new Uint8Array([7, 8]),
    },
  });
  assert.deepEqual(parseMessage(decodeCbor(encodeCbor(snap))), snap);
});

test("malformed messages are typed errors, never crashes", () => {
  const variants: unknown[] = [
    null,
    { ...app, type: "nope" },
    { ...app, term: -1 },
    { ...app, index: 1.5 },
    { ...app, entries: [{ term: 1 }] },
    {
      ...app,
      entries: [{ ...app.entries[0], data: new Uint8Array(limits.raftEntryBytesMax + 1) }],
    },
    { ...app, type: "snap" },
    { ...app, context: "text" },
  ];
  for (const v of variants) {
    assert.throws(
      () => parseMessage(v),
      (err) => isRaftError(err, "invalidArgument"),
    );
  }
});

test("random garbage never throws anything but RaftError", () => {
  fc.assert(
    fc.property(fc.anything(), (v) => {
      try {
        parseMessage(v);
      } catch (err) {
        assert.ok(isRaftError(err, "invalidArgument"), String(err));
      }
    }),
  );
});
