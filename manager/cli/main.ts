// The `fleet` command's entry point (bundled to dist/fleet.mjs): binds run() to the process.

import { run } from "./run.ts";

const abort = new AbortController();
let interrupted = 0;
process.on("SIGINT", () => {
  if (++interrupted > 1) process.exit(130);
  abort.abort();
});
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
});

const io = {
  out: (text: string) => void process.stdout.write(`${text}\n`),
  err: (text: string) => void process.stderr.write(`${text}\n`),
  isTTY: process.stdout.isTTY === true,
  env: process.env,
  now: () => Date.now(),
};

const code = await run(process.argv.slice(2), io, abort.signal);
// Let stdout drain before leaving (a pipe may still hold output).
process.stdout.write("", () => process.exit(code));
