#!/usr/bin/env node
// The `fleet` command: runs the bundled CLI (npm run build writes dist/fleet.mjs).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "fleet.mjs");
if (!existsSync(dist)) {
  console.error("fleet: the CLI is not built (run `npm run build`; it exists once issue 6 lands)");
  process.exit(1);
}
await import(pathToFileURL(dist).href);
