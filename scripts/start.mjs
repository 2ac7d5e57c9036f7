#!/usr/bin/env node
// `npm start`: builds fleet and runs a local demo cluster (three managers, three agents) on
// loopback. The manager daemon and the agent are not in the tree yet, so there is nothing to
// start; this says so plainly instead of pretending.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const demo = join(root, "scripts", "demo.mjs");
if (!existsSync(demo)) {
  console.error(
    "npm start: not yet. The local demo cluster arrives with the manager daemon, the CLI and the\n" +
      "edge agent (issues 5-7). Today's fleet is its core: run `npm test` to see it work.",
  );
  process.exit(1);
}
await import(demo);
