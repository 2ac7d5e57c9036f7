// Runs the shared storage conformance suite against the in-memory reference storage.
import { MemoryStorage } from "../../core/raft/storage.ts";
import { storageSuite } from "./storage-suite.ts";

storageSuite("MemoryStorage", { make: async () => new MemoryStorage() });
