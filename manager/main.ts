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
let stopping = false;
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log.info("signal", { sig });
    daemon.stop().then(
      () => process.exit(process.exitCode ?? 0),
      (err) => {
        log.error("stop failed", { err: String(err) });
        process.exit(1);
      },
    );
  });
}
void daemon.done.then(() => process.exit(process.exitCode ?? 0));
try {
  await daemon.start();
} catch (err) {
  log.error("start failed", { err: (err as Error).message });
  await daemon.stop().catch(() => {});
  process.exit(1);
}
