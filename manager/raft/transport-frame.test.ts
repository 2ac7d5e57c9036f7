import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeCbor } from "../../core/codec/cbor.ts";
import { encodeFrame, FrameReader, TransportError } from "./transport-frame.ts";

test("frames come back whole however the stream is cut", () => {
  fc.assert(
    fc.property(
      fc.array(fc.jsonValue(), { minLength: 1, maxLength: 20 }),
      fc.array(fc.nat(64), { maxLength: 30 }),
      (msgs, cuts) => {
        const stream = Buffer.concat(msgs.map((m) => encodeFrame(m, 1 << 20)));
        const reader = new FrameReader(1 << 20);
        const out: unknown[] = [];
        let at = 0;
        for (const c of [...cuts, stream.length]) {
          const end = Math.min(stream.length, at + c);
          for (const p of reader.push(stream.subarray(at, end))) out.push(decodeCbor(p));
          at = end;
        }
        assert.deepEqual(
          out,
          msgs.map((m) => decodeCbor(encodeFrame(m, 1 << 20).subarray(4))),
        );
      },
    ),
    { numRuns: 200 },
  );
});

test("an oversized header is refused before its payload arrives", () => {
  const reader = new FrameReader(100);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(101, 0);
  assert.throws(
    () => reader.push(head),
    (err: unknown) => {
      assert.ok(err instanceof TransportError);
      assert.equal(err.code, "frame_too_large");
      return true;
    },
  );
});

test("a header split over chunks is read once it is whole", () => {
  const reader = new FrameReader(100);
  const f = encodeFrame({ a: 1 }, 100);
  assert.deepEqual(reader.push(f.subarray(0, 1)), []);
  assert.deepEqual(reader.push(f.subarray(1, 3)), []);
  const [p] = reader.push(f.subarray(3));
  assert.deepEqual(decodeCbor(p!), { a: 1 });
});

test("sending a message over the bound is the caller's bug and says so", () => {
  assert.throws(() => encodeFrame(new Uint8Array(200), 100), {
    name: "TransportError",
    code: "message_too_large",
  });
});
