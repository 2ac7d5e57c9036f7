// Free TCP ports on 127.0.0.1 for processes that are told their port before they listen (test
// clusters, the demo). The OS's `listen(0)` answers from the ephemeral range, which is also where
// every outgoing connection takes its local port: between "this port was free" and "the manager
// listens on it", a reconnecting client elsewhere on the machine could take it (a CI run failed
// with EADDRINUSE exactly so). Ports are therefore drawn below the ephemeral range, checked by
// binding, and never handed out twice by one process.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const given = new Set();

function ephemeralLow() {
  try {
    const low = Number(
      readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").split(/\s+/)[0],
    );
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

function bindable(port) {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

function osPort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/** A port on 127.0.0.1 that nothing listened on a moment ago, outside the ephemeral range. */
export async function freePort() {
  const high = ephemeralLow() - 1;
  const low = 10_000;
  if (high - low >= 1_000) {
    for (let i = 0; i < 200; i++) {
      const port = low + Math.floor(Math.random() * (high - low + 1));
      if (given.has(port)) continue;
      given.add(port);
      if (await bindable(port)) return port;
    }
  }
  // A machine whose ephemeral range starts low: the OS's pick, with its small race.
  const port = await osPort();
  given.add(port);
  return port;
}
