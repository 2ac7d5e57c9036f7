// `node dist/manager.mjs --data-dir DIR …`: runs one manager in the foreground (systemd-friendly),
// logging logfmt lines to stderr, stopping cleanly on SIGTERM or SIGINT.

import { ConfigError, parseManagerConfig } from "./config.ts";
import { ManagerDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";

const log = createLogger("manager");
let config: ReturnType<typeof parseManagerConfig>;
try {
  config = parseManagerConfig(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(2);
}
const daemon = new ManagerDaemon(config, log);

/** Exits once stderr has taken every log line written before (a pipe writes asynchronously). */
function exit(code: number): void {
  process.stderr.write("", () => process.exit(code));
}

let stopping = false;
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log.info("signal", { sig });
    daemon.stop().then(
      () => exit(Number(process.exitCode ?? 0)),
      (err) => {
        log.error("stop failed", { err: String(err) });
        exit(1);
      },
    );
  });
}
try {
  await daemon.start();
  // The daemon may also stop on its own (demoted and out of the Raft group).
  void daemon.done.then(() => exit(Number(process.exitCode ?? 0)));
} catch (err) {
  log.error("start failed", { err: (err as Error).message });
  process.exitCode = 1;
  await daemon.stop().catch(() => {});
  exit(1);
}
