import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "../../core/limits.ts";
import {
  compareVersions,
  decodeEnvelope,
  encodeEnvelope,
  SeqWindow,
  VersionClock,
} from "./envelope.ts";
import { backoffDelayMs } from "./peer-link.ts";

test("an envelope round-trips, with and without a version", () => {
  const payload = Buffer.from('{"a":1}');
  for (const version of [undefined, { ts: 1_700_000_000_123, origin: "manager-2" }]) {
    const e = { epoch: 0xdeadbeef, seq: 42, sync: version !== undefined, version, payload };
    const back = decodeEnvelope(encodeEnvelope(e));
    assert.deepEqual(back, e);
  }
});

test("a damaged envelope decodes to undefined, never throws", () => {
  const good = encodeEnvelope({
    epoch: 1,
    seq: 1,
    sync: false,
    version: { ts: 5, origin: "abc" },
    payload: Buffer.from("x"),
  });
  for (let cut = 0; cut < 27; cut++) {
    const r = decodeEnvelope(good.subarray(0, cut));
    assert.ok(r === undefined || r.payload.length < 1, `cut at ${cut}`);
  }
  assert.equal(decodeEnvelope(Buffer.from("plain payload, no envelope")), undefined);
  const badFlags = Buffer.from(good);
  badFlags[2] = 0x80;
  assert.equal(decodeEnvelope(badFlags), undefined);
  const badSeq = Buffer.from(good);
  badSeq.writeDoubleBE(0.5, 7);
  assert.equal(decodeEnvelope(badSeq), undefined);
});

test("the window accepts each sequence number once, in any order within the window", () => {
  const w = new SeqWindow(8);
  assert.equal(w.accept(1), true);
  assert.equal(w.accept(3), true);
  assert.equal(w.accept(2), true);
  assert.equal(w.accept(2), false);
  assert.equal(w.accept(3), false);
  assert.equal(w.accept(20), true);
  assert.equal(w.accept(13), true, "inside the window, never seen");
  assert.equal(w.accept(13), false);
  assert.equal(w.accept(12), false, "at the floor: treated as seen");
  assert.equal(w.accept(1), false, "far behind: treated as seen");
  assert.equal(w.accept(21), true);
});

test("versions order by clock then origin; the clock never goes back", () => {
  assert.ok(compareVersions({ ts: 1, origin: "b" }, { ts: 2, origin: "a" }) < 0);
  assert.ok(compareVersions({ ts: 2, origin: "b" }, { ts: 2, origin: "a" }) > 0);
  assert.equal(compareVersions({ ts: 2, origin: "a" }, { ts: 2, origin: "a" }), 0);
  let now = 100;
  const c = new VersionClock("m1", () => now);
  const a = c.next();
  const b = c.next();
  assert.ok(compareVersions(a, b) < 0, "same millisecond still increases");
  c.observe({ ts: 500, origin: "m2" });
  now = 200;
  assert.ok(c.next().ts > 500, "a write after seeing a newer version is newer still");
});

test("reconnect delays grow to the cap and are jittered within [cap/2, cap)", () => {
  const { meshBackoffBaseMs: base, meshBackoffMaxMs: max } = limits;
  assert.equal(
    backoffDelayMs(0, () => 0),
    base / 2,
  );
  assert.ok(backoffDelayMs(0, () => 0.999) < base);
  assert.equal(
    backoffDelayMs(3, () => 0),
    (base * 8) / 2,
  );
  assert.equal(
    backoffDelayMs(30, () => 0),
    max / 2,
  );
  assert.ok(backoffDelayMs(30, () => 0.999) < max);
  const spread = new Set([0.1, 0.5, 0.9].map((r) => backoffDelayMs(4, () => r)));
  assert.equal(spread.size, 3, "different draws, different delays: no reconnect storm");
});
