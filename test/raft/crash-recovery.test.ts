// Crash test on the real disk: a child process saves Readys under load and acknowledges each
// one after its fsync; we SIGKILL it at a random moment, sometimes tear the unacknowledged last
// write (crash-damage.ts), recover, and check that every acknowledged entry is present and
// intact. The same data dir goes through every round, so
// recovery-then-continue is tested too. The seed is printed; FLEET_CRASH_SEED replays it.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { DiskStorage } from "../../manager/raft/disk-storage.ts";
import { type AckedPosition, type Damage, damageTail } from "./crash-damage.ts";
import { payloadOf, snapshotDataOf } from "./crash-writer.ts";

const here = dirname(fileURLToPath(import.meta.url));
const rounds = 8;
const roundTimeoutMs = 15_000;
const segmentBytesMax = 64 * 1024;
const damages: Damage[] = ["none", "zeros", "cut", "flip"];

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Round {
  acked: number;
  position: AckedPosition;
  started: number;
  torn: number;
}

/** Runs the writer until it has acknowledged `killAfterAcks` more Readys, then SIGKILLs it. */
function runAndKill(dataDir: string, killAfterAcks: number, extraDelayMs: number): Promise<Round> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(here, "crash-writer.ts"), dataDir, String(segmentBytesMax)],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const round: Round = { acked: 0, position: { segment: 0, bytes: 0 }, started: -1, torn: 0 };
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    let acks = 0;
    let buffered = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`writer made no progress in ${roundTimeoutMs} ms: ${stderr}`));
    }, roundTimeoutMs);
    child.stdout.on("data", (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        const [word, n, a, b] = line.split(" ");
        if (word === "start") [round.started, round.torn] = [Number(n), Number(b)];
        if (word === "ack") {
          round.acked = Number(n);
          round.position = { segment: Number(a), bytes: Number(b) };
        }
        if (word === "ack" && ++acks === killAfterAcks) {
          setTimeout(() => child.kill("SIGKILL"), extraDelayMs);
        }
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (signal === "SIGKILL") resolve(round);
      else reject(new Error(`writer exited by itself (${code}): ${stderr}`));
    });
  });
}

async function checkRecovered(dataDir: string, acked: number, damage: Damage): Promise<number> {
  const s = await DiskStorage.open(dataDir, { segmentBytesMax, log: () => {} });
  try {
    if (damage !== "none") assert.ok(s.recovery.torn, `the ${damage} tail was reported`);
    assert.ok(s.lastIndex() >= acked, `acked ${acked} but recovered only ${s.lastIndex()}`);
    const snap = s.snapshot();
    const first = s.firstIndex();
    assert.equal(first, snap.metadata.index + 1);
    if (snap.metadata.index > 0) {
      assert.deepEqual(snap.data, snapshotDataOf(snap.metadata.index));
    }
    for (const e of s.entries(first, s.lastIndex() + 1, Infinity)) {
      assert.deepEqual(e.data, payloadOf(e.index), `entry ${e.index} intact`);
    }
    assert.ok(s.initialState().hardState.commit >= acked, "the acked hard state survived");
    return s.lastIndex();
  } finally {
    await s.close();
  }
}

test("every acknowledged entry survives SIGKILL during writes", async () => {
  const seed = Number(process.env.FLEET_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`crash test seed ${seed} (FLEET_CRASH_SEED=${seed} to replay)`);
  const rand = prng(seed);
  const dataDir = mkdtempSync(join(tmpdir(), "fleet-crash-"));
  try {
    let recovered = 0;
    let damaged = 0;
    for (let r = 0; r < rounds; r++) {
      const killAfter = 1 + Math.floor(rand() * 400);
      const delay = Math.floor(rand() * 30);
      const round = await runAndKill(dataDir, killAfter, delay);
      assert.equal(round.started, recovered, "the writer starts where recovery left off");
      const wal = join(dataDir, "raft", "wal");
      const asked = damages[Math.floor(rand() * damages.length)]!;
      const damage = damageTail(wal, round.position, asked, rand);
      if (damage !== "none") damaged++;
      recovered = await checkRecovered(dataDir, round.acked, damage);
      console.log(
        `round ${r}: acked ${round.acked}, damage ${damage}, recovered ${recovered}, ` +
          `segments ${readdirSync(wal).length}`,
      );
    }
    console.log(`rounds with a damaged tail: ${damaged} of ${rounds}`);
  } catch (err) {
    console.log(`crash test failed with seed ${seed}`);
    throw err;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
