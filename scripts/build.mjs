#!/usr/bin/env node
// Bundles the shipping files with esbuild: dist/fleet.mjs (CLI), dist/manager.mjs (daemon) and
// dist/edge-agent.mjs (the one file flashed onto boards), each built once its entry exists.
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const entries = [
  { entry: "manager/cli/main.ts", out: "dist/fleet.mjs" },
  { entry: "manager/main.ts", out: "dist/manager.mjs" },
  { entry: "edge-agent/main.ts", out: "dist/edge-agent.mjs", agent: true },
];

// dockerode reaches ssh2 (and through it cpu-features), grpc and protobufjs only for ssh
// transports and BuildKit sessions. fleet talks to the local socket: stub them out.
const stubbed = ["ssh2", "cpu-features", "@grpc/grpc-js", "@grpc/proto-loader", "protobufjs"];
// The agent (budget 600 KB) also drops what it never uses: MQTT over websockets and SOCKS
// proxies, browser worker timers, dockerode's build-context tarring (tar-fs, dockerignore).
const agentStubbed = ["ws", "socks", "worker-timers", "tar-fs", "@balena/dockerignore"];
const escapeRe = (s) => s.replace(/[/.]/g, "\\$&");
const stubPlugin = (names) => ({
  name: "stub-unused",
  setup(b) {
    const filter = new RegExp(`^(${names.map(escapeRe).join("|")})(/.*)?$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: "stub" }));
    b.onLoad({ filter: /.*/, namespace: "stub" }, (args) => ({
      // Loading must succeed (dockerode requires ssh2 eagerly); only using it fails.
      contents: `const fail = () => { throw new Error(${JSON.stringify(`${args.path} is not bundled in fleet`)}); };
module.exports = new Proxy(fail, { get: (_, key) => (key === "__esModule" ? false : fail) });`,
      loader: "js",
    }));
  },
});

// Agent-only rewrites: mqtt's browser/websocket transports (./ws, ./wx, ./ali inside
// mqtt/build/lib/connect) become failing stubs; `debug` a no-op (the agent logs itself);
// every `readable-stream` copy (mqtt's v3, bl's v4 with its Buffer polyfill) node's own stream.
const mqttVersion = JSON.parse(
  readFileSync(join(root, "node_modules/mqtt/package.json"), "utf8"),
).version;
const agentPlugin = {
  name: "agent-slim",
  setup(b) {
    b.onResolve({ filter: /^\.\/(ws|wx|ali)$/ }, (args) =>
      /mqtt[\\/]build[\\/]lib[\\/]connect/.test(args.importer)
        ? { path: `mqtt-${args.path.slice(2)}`, namespace: "stub" }
        : undefined,
    );
    // mqtt reads only `version` from its package.json; the rest (devDependencies naming aedes)
    // would land in the bundle.
    b.onResolve({ filter: /package\.json$/ }, (args) =>
      /mqtt[\\/]build[\\/]lib/.test(args.importer)
        ? { path: "mqtt-version", namespace: "agent-shim" }
        : undefined,
    );
    b.onResolve({ filter: /^debug$/ }, () => ({ path: "debug", namespace: "agent-shim" }));
    b.onResolve({ filter: /^readable-stream$/ }, () => ({
      path: "stream",
      namespace: "agent-shim",
    }));
    b.onLoad({ filter: /^debug$/, namespace: "agent-shim" }, () => ({
      contents:
        "function debug() {\n  const f = () => {};\n  f.enabled = false;\n  f.extend = debug;\n" +
        "  return f;\n}\n" +
        "module.exports = debug; module.exports.default = debug;",
      loader: "js",
    }));
    b.onLoad({ filter: /^mqtt-version$/, namespace: "agent-shim" }, () => ({
      contents: `module.exports = { version: ${JSON.stringify(mqttVersion)} };`,
      loader: "js",
    }));
    b.onLoad({ filter: /^stream$/, namespace: "agent-shim" }, () => ({
      contents: 'module.exports = require("node:stream");',
      loader: "js",
    }));
  },
};

// ESM bundles of CommonJS dependencies need require/__dirname.
const banner = [
  'import { createRequire as __fleetCreateRequire } from "node:module";',
  'import { fileURLToPath as __fleetFileURLToPath } from "node:url";',
  'import { dirname as __fleetDirname } from "node:path";',
  "const require = __fleetCreateRequire(import.meta.url);",
  "const __filename = __fleetFileURLToPath(import.meta.url);",
  "const __dirname = __fleetDirname(__filename);",
].join("\n");

mkdirSync(join(root, "dist"), { recursive: true });
let built = 0;
for (const e of entries) {
  if (!existsSync(join(root, e.entry))) {
    console.log(`build: ${e.out} skipped (${e.entry} does not exist yet)`);
    continue;
  }
  await build({
    entryPoints: [join(root, e.entry)],
    outfile: join(root, e.out),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    minify: true,
    sourcemap: false,
    legalComments: "none",
    banner: { js: `#!/usr/bin/env node\n${banner}` },
    external: ["cbor-extract"],
    plugins: e.agent
      ? [agentPlugin, stubPlugin([...stubbed, ...agentStubbed])]
      : [stubPlugin(stubbed)],
    logLevel: "warning",
  });
  built++;
  console.log(`build: ${e.out} ${statSync(join(root, e.out)).size} bytes`);
}
if (built === 0) console.log("build: nothing to build yet");
