import { MemoryExecutor } from "./memory.ts";
import { executorSuite } from "./suite.ts";

const IMAGE = "fleet-test/busybox:latest";

executorSuite("memory", {
  async before() {
    const executor = new MemoryExecutor();
    executor.images.add(IMAGE);
    return { executor, image: IMAGE, label: ["fleet.test", "suite-memory"], pollMs: 1 };
  },
  async after() {},
});
