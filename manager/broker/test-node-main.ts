// A mesh broker as its own process, for tests that SIGKILL one: `node --import tsx
// test-node-main.ts '{"id":"b","port":1234,"peers":[{"id":"a","url":"mqtt://…"}]}'`.
// Prints `ready <port>` once listening and meshed; runs until killed.

import type { MeshPeer } from "./mesh.ts";
import { startNode } from "./test-harness.ts";

const spec = JSON.parse(process.argv[2] ?? "{}") as { id: string; port: number; peers: MeshPeer[] };
const node = await startNode(spec.id, spec.port);
node.mesh.setPeers(spec.peers);
process.stdout.write(`ready ${node.broker.port}\n`);
