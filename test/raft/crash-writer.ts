// Child process of the crash test: opens DiskStorage in argv[2], then saves Readys of entries
// as fast as it can and prints `ack <index>` after each save's fsync returned. The parent
// SIGKILLs it at a random moment. Every entry's bytes derive from its index, so the parent can
// check contents after recovery. Each ack also names where the durable log ended (segment,
// bytes), so the parent can damage only what was never acknowledged. Bounded: stops by itself
// after entriesMax or timeMs.
//   node --import tsx test/raft/crash-writer.ts <dataDir> <segmentBytesMax>

import type { Entry } from "../../core/raft/types.ts";
import { DiskStorage } from "../../manager/raft/disk-storage.ts";

export const entriesMax = 200_000;
const timeMs = 20_000;
/** A snapshot every this many entries, keeping a tail, as the driver will. */
export const snapshotEvery = 300;
export const snapshotTail = 50;

/** The payload of entry `index`: 40..295 bytes, all derived from the index. */
export function payloadOf(index: number): Uint8Array {
  const out = new Uint8Array(40 + (index % 256));
  let x = index * 2654435761;
  for (let i = 0; i < out.length; i++) {
    x = (x ^ (x >>> 13)) * 1274126177;
    out[i] = (x >>> 24) & 0xff;
  }
  return out;
}

export function snapshotDataOf(index: number): Uint8Array {
  return new TextEncoder().encode(`state-up-to-${index}`);
}

async function main(): Promise<void> {
  const dataDir = process.argv[2]!;
  const segmentBytesMax = Number(process.argv[3]);
  const s = await DiskStorage.open(dataDir, { segmentBytesMax, log: (l) => console.error(l) });
  const torn = s.recovery.torn;
  process.stdout.write(`start ${s.lastIndex()} torn ${torn ? torn.droppedBytes : 0}\n`);
  const started = Date.now();
  let next = s.lastIndex() + 1;
  let batch = 1;
  while (next < entriesMax && Date.now() - started < timeMs) {
    const ents: Entry[] = [];
    for (let k = 0; k < batch; k++, next++) {
      ents.push({ index: next, term: 1, type: "normal", data: payloadOf(next) });
    }
    const last = next - 1;
    await s.save({ entries: ents, hardState: { term: 1, vote: 1, commit: last } });
    const { segment, bytes } = s.walPosition;
    process.stdout.write(`ack ${last} ${segment} ${bytes}\n`);
    batch = (batch % 16) + 1;
    const snapAt = last - snapshotTail;
    if (snapAt - s.snapshot().metadata.index >= snapshotEvery) {
      await s.createSnapshot(snapAt, { voters: [1], learners: [] }, snapshotDataOf(snapAt));
      s.compact(snapAt);
    }
  }
  await s.close();
}

if (process.argv[1]?.endsWith("crash-writer.ts")) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
