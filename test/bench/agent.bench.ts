// The edge agent's footprint and speed, measured on the bundle (dist/edge-agent.mjs, rebuilt
// first) against real mosquitto and the real Docker engine, with a fake manager. Agents connect
// as joined boards do: mTLS with a node certificate (test CA) to mosquitto's TLS 1.3 listener,
// their certificate renewal armed; the fake manager uses a plain listener of the same broker.
//   bundleBytes         size of the one file flashed onto boards (budget 600 KB)
//   startToConnectedMs  process spawn -> "connected" on stdout, median of --starts runs (1 s)
//   rssBytes            VmRSS after --idle-ms connected and idle, median of --rss-runs fresh
//                       agents (budget 60 MB = 60,000,000 B)
//   rssPlainBytes       the same without TLS and certificates (plain mqtt://)
//   rssLongBytes        one mTLS agent after --long-idle-ms (150 s; 0 skips): later pages,
//                       e.g. an optimising compiler's, show only after minutes
//   rssRenewingBytes    one agent whose certificate is due (90% of its life): it loads the
//                       renewal's X.509/signature code and sends a csr (left unanswered);
//                       measured after --renew-settle-ms (20 s: V8 shrinks the young
//                       generation ~10 s after the renewal's burst of garbage)
//   baselineRssBytes    with --baseline FILE: the same as rssBytes for another bundle, measured
//                       alternately in the same run (the machine is shared: compare ratios)
//   assignToRunningMs   assign published -> RUNNING status received, median of --runs tasks
//   dockerRunMs         `docker run -d` of the same image and command, median, same run
//   loadAvg1            the machine's 1-minute load average at the end
// `npm run bench -- agent [--json] [--runs N] [--starts N] [--idle-ms MS] [--rss-runs N]
//  [--baseline FILE] [--renew-settle-ms MS] [--long-idle-ms MS]`

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir, userInfo } from "node:os";
import { join, resolve } from "node:path";
import { privateKeyToPem } from "../../core/crypto/keys.ts";
import { DAY_MS, testNodeCert, testRoot } from "../../core/crypto/testing.ts";
import { TaskState } from "../../core/model/task-state.ts";
import { FakeManager } from "../../edge-agent/session/testing.ts";
import { task } from "../../edge-agent/worker/testing.ts";
import {
  ensureTestImage,
  freePort,
  have,
  removeTestContainers,
  startMosquitto,
} from "../support/real.ts";
import { type Bench, numberFlag, table } from "./run.ts";

const root = join(import.meta.dirname, "../..");
const BUNDLE = join(root, "dist/edge-agent.mjs");
const LABEL = "bench-agent";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

function rssOf(pid: number): number {
  const m = /^VmRSS:\s*(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

interface Started {
  proc: ChildProcess;
  ms: number;
}

/** A test CA, mosquitto's server certificate (fleet-manager) and the TLS listener's config. */
function brokerTls(dir: string, tlsPort: number) {
  const root = testRoot("bench", "ed25519", Date.now() - 28 * DAY_MS);
  const server = testNodeCert(root, "m1", "manager", { nowMs: Date.now(), expiryMs: 30 * DAY_MS });
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text, { mode: 0o600 });
    return join(dir, name);
  };
  const conf = [
    `listener ${tlsPort} 127.0.0.1`,
    `cafile ${file("ca.pem", root.certPem)}`,
    `certfile ${file("server.pem", server.certPem)}`,
    `keyfile ${file("server.key", privateKeyToPem(server.key))}`,
    "tls_version tlsv1.3",
    "require_certificate true",
    "use_identity_as_username true",
    // mosquitto started as root drops to its own user, which could not read these files.
    `user ${userInfo().username}`,
  ].join("\n");
  /** A joined node's data dir: certs/{ca.pem,node.pem,node.key} for `nodeId`. */
  const nodeCerts = (dataDir: string, nodeId: string, issuedDaysAgo = 0): string[] => {
    const nowMs = Date.now() - issuedDaysAgo * DAY_MS;
    const node = testNodeCert(root, nodeId, "worker", { nowMs, expiryMs: 30 * DAY_MS });
    const certs = join(dataDir, "certs");
    mkdirSync(certs, { recursive: true, mode: 0o700 });
    const put = (name: string, text: string) => {
      writeFileSync(join(certs, name), text, { mode: 0o600 });
      return join(certs, name);
    };
    return [
      ...["--tls-ca", put("ca.pem", root.certPem), "--tls-cert", put("node.pem", node.certPem)],
      ...["--tls-key", put("node.key", privateKeyToPem(node.key))],
    ];
  };
  return { conf, nodeCerts };
}

type Broker = { url: string; tls?: (dataDir: string, nodeId: string) => string[] };

/** Spawns a bundle and resolves once it prints that it is connected (30 s at most). */
function startAgent(
  dataDir: string,
  broker: Broker,
  nodeId: string,
  bundle = BUNDLE,
): Promise<Started> {
  const args = [bundle, "run", "--data-dir", dataDir, "--cluster", "bench", "--node-id", nodeId];
  args.push("--broker", broker.url, "--poll-ms", "1000", ...(broker.tls?.(dataDir, nodeId) ?? []));
  const t0 = performance.now();
  const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "ignore"] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error("agent did not connect within 30 s"));
    }, 30_000);
    proc.stdout!.on("data", (d) => {
      if (!String(d).includes("edge-agent: connected to")) return;
      clearTimeout(timer);
      resolve({ proc, ms: performance.now() - t0 });
    });
    proc.once("exit", (code) => reject(new Error(`agent exited (${code}) before connecting`)));
  });
}

function stopAgent(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return Promise.resolve();
  return new Promise((r) => {
    p.once("exit", () => r());
    p.kill("SIGTERM");
  });
}

/** Idle RSS of `bundle`: a fresh agent, connected, idle for `idleMs`, then stopped. */
async function idleRss(
  bundle: string,
  dataDir: string,
  broker: Broker,
  nodeId: string,
  idleMs: number,
) {
  const s = await startAgent(dataDir, broker, nodeId, bundle);
  try {
    await new Promise((r) => setTimeout(r, idleMs));
    return rssOf(s.proc.pid!);
  } finally {
    await stopAgent(s.proc);
  }
}

function stringFlag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i >= 0) return args[i + 1];
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

function dockerRunMs(image: string, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync("docker", [
      "run",
      "-d",
      "--label",
      `fleet.test=${LABEL}`,
      image,
      "sleep",
      "300",
    ]);
    if (r.status !== 0) throw new Error(`docker run failed: ${r.stderr}`);
    times.push(performance.now() - t0);
  }
  removeTestContainers(LABEL);
  return median(times);
}

async function assignToRunning(
  mgr: FakeManager,
  nodeId: string,
  image: string,
  runs: number,
  log: (line: string) => void,
) {
  const times: number[] = [];
  const running = (id: string) =>
    mgr.statuses.some((m) =>
      m.updates.some((u) => u.taskId === id && u.state === TaskState.RUNNING),
    );
  for (let i = 0; i < runs; i++) {
    const id = `bench${Date.now().toString(36)}x${i}`;
    const spec = {
      image,
      args: ["sleep", "300"],
      labels: { "fleet.test": LABEL },
      stopGracePeriodMs: 0,
    };
    mgr.version++;
    mgr.tasks = [task(id, spec)];
    const t0 = performance.now();
    mgr.assign(nodeId);
    await mgr.until(`task ${id} RUNNING`, () => running(id), 60_000);
    times.push(performance.now() - t0);
    log(`assign -> RUNNING #${i + 1}: ${Math.round(times.at(-1)!)} ms`);
  }
  mgr.version++;
  mgr.tasks = [];
  mgr.assign(nodeId);
  return median(times);
}

export const bench: Bench = {
  description:
    "edge agent: bundle size, idle RSS (mTLS and plain), start-to-connected, assign-to-RUNNING vs docker run",
  async run({ args, log }) {
    for (const part of ["docker", "mosquitto", "busybox"] as const) {
      if (!have(part)) throw new Error(`bench agent needs ${part}`);
    }
    const runs = numberFlag(args, "runs", 5);
    const starts = numberFlag(args, "starts", 5);
    const idleMs = numberFlag(args, "idle-ms", 5000);
    const rssRuns = numberFlag(args, "rss-runs", 3);
    const settleMs = numberFlag(args, "renew-settle-ms", 20_000);
    const longMs = numberFlag(args, "long-idle-ms", 150_000);
    const baselineArg = stringFlag(args, "baseline");
    const baseline = baselineArg ? resolve(baselineArg) : undefined;
    const b = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { encoding: "utf8" });
    if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
    const bundleBytes = statSync(BUNDLE).size;
    const image = ensureTestImage();
    const dir = mkdtempSync(join(tmpdir(), "fleet-bench-agent-"));
    const tlsPort = await freePort();
    const tls = brokerTls(dir, tlsPort);
    const mq = await startMosquitto(tls.conf);
    const mgr = new FakeManager("bench");
    const secure: Broker = { url: `mqtts://127.0.0.1:${tlsPort}`, tls: tls.nodeCerts };
    const plain: Broker = { url: `mqtt://127.0.0.1:${mq.port}` };
    const nodeId = `bench${process.pid}`;
    let agent: ChildProcess | undefined;
    try {
      await mgr.serve(`mqtt://127.0.0.1:${mq.port}`);
      const startTimes: number[] = [];
      for (let i = 0; i < starts; i++) {
        const s = await startAgent(join(dir, `d${i}`), secure, `${nodeId}s${i}`);
        startTimes.push(s.ms);
        await stopAgent(s.proc);
      }
      // Fresh agents, one at a time; with --baseline the two bundles alternate.
      const rss: number[] = [];
      const rssPlain: number[] = [];
      const rssBaseline: number[] = [];
      for (let i = 0; i < rssRuns; i++) {
        const id = (k: string) => `${nodeId}${k}${i}`;
        rss.push(await idleRss(BUNDLE, join(dir, id("t")), secure, id("t"), idleMs));
        rssPlain.push(await idleRss(BUNDLE, join(dir, id("p")), plain, id("p"), idleMs));
        if (baseline)
          rssBaseline.push(await idleRss(baseline, join(dir, id("b")), secure, id("b"), idleMs));
        log(
          `idle RSS #${i + 1}: ${[rss, rssPlain, rssBaseline].map((xs) => xs.at(-1) ?? "-").join(" / ")} B`,
        );
      }
      const due: Broker = { ...secure, tls: (d, id) => tls.nodeCerts(d, id, 27) };
      const rssRenewing = await idleRss(BUNDLE, join(dir, "due"), due, `${nodeId}due`, settleMs);
      const rssLong =
        longMs > 0 ? await idleRss(BUNDLE, join(dir, "long"), secure, `${nodeId}l`, longMs) : 0;
      const s = await startAgent(join(dir, "main"), secure, nodeId);
      agent = s.proc;
      const dockerMs = dockerRunMs(image, runs);
      const assignMs = await assignToRunning(mgr, nodeId, image, runs, log);
      const rssBytes = median(rss);
      const out = {
        bundleBytes,
        rssBytes,
        rssPlainBytes: median(rssPlain),
        rssRenewingBytes: rssRenewing,
        ...(longMs > 0 ? { rssLongBytes: rssLong } : {}),
        ...(baseline ? { baselineRssBytes: median(rssBaseline) } : {}),
        startToConnectedMs: Math.round(median(startTimes)),
        assignToRunningMs: Math.round(assignMs),
        dockerRunMs: Math.round(dockerMs),
        loadAvg1: Number(loadavg()[0]!.toFixed(2)),
      };
      const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
      log(
        table([
          ["figure", "value", "budget"],
          ["bundle", `${(bundleBytes / 1e3).toFixed(0)} KB`, "600 KB"],
          ["idle RSS (mTLS)", mb(rssBytes), "60 MB"],
          ["idle RSS (plain)", mb(out.rssPlainBytes), "60 MB"],
          ["idle RSS (renewing)", mb(rssRenewing), "60 MB"],
          ...(longMs > 0 ? [[`idle RSS (${longMs / 1000} s)`, mb(rssLong), "60 MB"]] : []),
          ...(baseline
            ? [
                [
                  "idle RSS baseline",
                  mb(median(rssBaseline)),
                  (rssBytes / median(rssBaseline)).toFixed(3),
                ],
              ]
            : []),
          ["start to connected", `${out.startToConnectedMs} ms`, "1000 ms"],
          ["assign to RUNNING", `${out.assignToRunningMs} ms`, ""],
          ["docker run -d", `${out.dockerRunMs} ms`, ""],
          ["ratio", (assignMs / dockerMs).toFixed(2), ""],
          ["load average", String(out.loadAvg1), ""],
        ]),
      );
      return out;
    } finally {
      if (agent) await stopAgent(agent);
      await mgr.close();
      await mq.stop();
      removeTestContainers(LABEL);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
