// Runs every scenario script in test/raft/scenarios. FLEET_REWRITE=1 regenerates the expected
// traces (review the diff before committing it).

import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runFile } from "./datadriven.ts";
import { Interaction } from "./interaction.ts";

const dir = join(import.meta.dirname, "scenarios");
const files = readdirSync(dir).filter((f) => f.endsWith(".txt"));

test("there are scenario scripts", () => {
  assert.ok(files.length >= 7, `found ${files.length}`);
});

for (const f of files) {
  test(`scenario ${f}`, () => {
    const env = new Interaction();
    const failures = runFile(join(dir, f), (cmd) => env.handle(cmd));
    assert.deepEqual(failures, [], failures.join("\n\n"));
  });
}
