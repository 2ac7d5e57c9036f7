// A process full of simulated agents, for the dispatcher benchmark (run as a child process so
// the managers' CPU is measured on their own). Usage:
//   node --import tsx manager/dispatcher/sim-fleet.ts <urls> <clusterId> <first> <count> <periodMs>
// <urls>: one broker URL, or several separated by commas (agent i uses url i mod their count).
// Prints one JSON progress line per second on stdout; stops its clients on SIGTERM.

import { SimAgent } from "./sim-agent.ts";

const CONNECT_PARALLEL = 100;

interface Progress {
  connected: number;
  failed: number;
  heartbeatsSent: number;
  statusSent: number;
  assignments: number;
  disconnected: number;
}

async function main(): Promise<void> {
  const [urlList, clusterId, firstRaw, countRaw, periodRaw] = process.argv.slice(2);
  const urls = (urlList ?? "").split(",").filter((u) => u !== "");
  const first = Number(firstRaw);
  const count = Number(countRaw);
  const periodMs = Number(periodRaw);
  if (urls.length === 0 || !clusterId || ![first, count, periodMs].every(Number.isFinite)) {
    console.error("usage: sim-fleet.ts <url> <clusterId> <first> <count> <periodMs>");
    process.exit(2);
  }
  const agents: SimAgent[] = [];
  let failed = 0;
  let stopping = false;
  const progress = (): Progress => ({
    connected: agents.length,
    failed,
    heartbeatsSent: agents.reduce((n, a) => n + a.heartbeatsSent, 0),
    statusSent: agents.reduce((n, a) => n + a.statusSent, 0),
    assignments: agents.reduce((n, a) => n + a.assignmentsReceived, 0),
    disconnected: agents.filter((a) => !a.connected).length,
  });
  const ticker = setInterval(() => console.log(JSON.stringify(progress())), 1000);
  process.on("SIGTERM", () => {
    stopping = true;
    clearInterval(ticker);
    console.log(JSON.stringify(progress()));
    void Promise.allSettled(agents.map((a) => a.stop())).then(() => process.exit(0));
  });
  for (let i = 0; i < count && !stopping; i += CONNECT_PARALLEL) {
    const n = Math.min(CONNECT_PARALLEL, count - i);
    const batch = await Promise.allSettled(
      Array.from({ length: n }, (_, k) =>
        SimAgent.start({
          url: urls[(first + i + k) % urls.length]!,
          clusterId,
          nodeId: `sim-${first + i + k}`,
        }),
      ),
    );
    for (const r of batch) {
      if (r.status === "rejected") {
        failed++;
        continue;
      }
      const offset = ((agents.length * periodMs) / count) % periodMs;
      r.value.startHeartbeats(periodMs, offset);
      agents.push(r.value);
    }
  }
}

main().catch((err) => {
  console.error(`sim-fleet: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
