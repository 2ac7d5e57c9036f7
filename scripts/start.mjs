#!/usr/bin/env node
// `npm start`: the local demo cluster (scripts/demo.mjs). Flags pass through (`-- --check`).
await import("./demo.mjs");
