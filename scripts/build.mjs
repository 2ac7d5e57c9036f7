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

// Agent-only rewrites: mqtt's browser/websocket transports and its socks proxy dialer (./ws,
// ./wx, ./ali, ./socks inside mqtt/build/lib/connect) become failing stubs; `debug` a no-op
// (the agent logs itself); every `readable-stream` copy (mqtt's v3, bl's v4 with its Buffer
// polyfill) node's own stream; cbor-x decodes in JS (its native cbor-extract left out, below).
const mqttVersion = JSON.parse(
  readFileSync(join(root, "node_modules/mqtt/package.json"), "utf8"),
).version;
const agentPlugin = {
  name: "agent-slim",
  setup(b) {
    b.onResolve({ filter: /^\.\/(ws|wx|ali|socks)$/ }, (args) =>
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
    b.onResolve({ filter: /^cbor-extract$/ }, () => ({
      path: "cbor-extract",
      namespace: "agent-shim",
    }));
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
    // cbor-x's optional native string extractor: where a node_modules holds it (a full install,
    // this repository) loading and using it costs ~4 MB of RSS; cbor-x decodes in JS without it
    // (it catches this error), as on a board that has only the bundle.
    b.onLoad({ filter: /^cbor-extract$/, namespace: "agent-shim" }, () => ({
      contents: 'throw new Error("cbor-extract is not used by the agent");',
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

// The agent's idle RSS budget (DESIGN §5: 60 MB) holds only while the X.509/ASN.1 and signature
// libraries stay out of its start: evaluated they cost ~10-16 MB, and only join and renewal use
// them (loaded there with `await import()`, which esbuild keeps in the one file but evaluates on
// first use). A static import path from the entry to one of them fails the build.
const agentLazyOnly = /node_modules[\\/](@peculiar[\\/]|asn1js[\\/]|@noble[\\/]curves[\\/])/;

/** The first module matching `re` that the entry evaluates at start, with the import path. */
function eagerPath(metafile, entry, re) {
  const inputs = metafile.inputs;
  const start = Object.keys(inputs).find((f) => f.endsWith(entry));
  const from = new Map([[start, undefined]]);
  for (const queue = [start]; queue.length > 0; ) {
    const f = queue.shift();
    if (re.test(f)) {
      const path = [];
      for (let at = f; at !== undefined; at = from.get(at)) path.unshift(at);
      return path;
    }
    for (const i of inputs[f]?.imports ?? []) {
      if (i.kind === "dynamic-import" || i.external || from.has(i.path)) continue;
      from.set(i.path, f);
      queue.push(i.path);
    }
  }
  return undefined;
}

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
  const result = await build({
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
    external: e.agent ? [] : ["cbor-extract"],
    plugins: e.agent
      ? [agentPlugin, stubPlugin([...stubbed, ...agentStubbed])]
      : [stubPlugin(stubbed)],
    logLevel: "warning",
    metafile: Boolean(e.agent),
  });
  const eager = e.agent ? eagerPath(result.metafile, e.entry, agentLazyOnly) : undefined;
  if (eager) {
    console.error(
      `build: ${e.out}: ${eager.at(-1)} is evaluated at start, over the idle RSS budget; ` +
        `import it lazily (await import()) on the path:\n  ${eager.join("\n  -> ")}`,
    );
    process.exitCode = 1;
  }
  built++;
  console.log(`build: ${e.out} ${statSync(join(root, e.out)).size} bytes`);
}
if (built === 0) console.log("build: nothing to build yet");
