// A few hundred simulator seeds from a random start (printed, so a failure reproduces with
// `npm run sim -- --seeds 1 --start <seed>`). FLEET_SIM_SEEDS and FLEET_SIM_START override.

import assert from "node:assert/strict";
import { test } from "node:test";
import { runSeed } from "./sim.ts";

const seeds = Number(process.env.FLEET_SIM_SEEDS ?? 400);
const start = Number(process.env.FLEET_SIM_START ?? 1 + Math.floor(Math.random() * 1_000_000));

test(`simulator: ${seeds} seeds from ${start}`, () => {
  console.log(`# sim seeds ${start}..${start + seeds - 1}`);
  const failures: string[] = [];
  let unknown = 0;
  for (let seed = start; seed < start + seeds; seed++) {
    const r = runSeed({ seed });
    if (r.linearizable === "unknown") unknown++;
    if (!r.ok) {
      failures.push(
        `seed ${seed}: ${r.failure}\n  reproduce: npm run sim -- --seeds 1 --start ${seed} --verbose`,
      );
    }
  }
  assert.deepEqual(failures, [], failures.join("\n"));
  console.log(`# sim: ${seeds} seeds ok, linearizability unknown for ${unknown}`);
});
