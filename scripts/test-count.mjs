// A node:test reporter for scripts/test.mjs: one JSON line per finished test, appended with a
// synchronous write to the file named by FLEET_TEST_COUNT. A file reporter's stream (TAP) may
// lose its tail when --test-force-exit ends the run; a synchronous append cannot.
import { appendFileSync } from "node:fs";

export default async function* countReporter(source) {
  const out = process.env.FLEET_TEST_COUNT;
  for await (const e of source) {
    if (!out || (e.type !== "test:pass" && e.type !== "test:fail")) continue;
    const d = e.data;
    const line = {
      pass: e.type === "test:pass",
      name: d.name,
      nesting: d.nesting,
      file: d.file ?? "",
      suite: d.details?.type === "suite",
      skip: d.skip !== undefined && d.skip !== false,
      todo: d.todo !== undefined && d.todo !== false,
    };
    appendFileSync(out, `${JSON.stringify(line)}\n`);
  }
  // A reporter is a generator of what goes to its destination: nothing (the file is the output).
  yield "";
}
