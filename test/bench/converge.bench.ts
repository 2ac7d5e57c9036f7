// Convergence after losing a worker: three real manager processes, three simulated agents
// heartbeating every 5 s, a replicated service; one agent's session is killed and we time until
// its tasks are ASSIGNED to other nodes. With `fleet.disconnect-grace=0` on the service this is
// detection (3 missed heartbeats) plus scheduling; the default grace (30 s) would add to it by
// design (an edge node on a flaky link keeps its tasks for a while).

import { SimAgent } from "../../manager/dispatcher/sim-agent.ts";
import { Managers } from "../e2e/managers.ts";
import { type Bench, table } from "./run.ts";

interface TaskRow {
  nodeId: string;
  desiredState: number;
  status: { state: number };
}

const PERIOD_MS = 5000;

export const bench: Bench = {
  description: "kill a worker's session; seconds until its replicated tasks are ASSIGNED elsewhere",
  async run({ log }) {
    const c = new Managers();
    const agents: SimAgent[] = [];
    try {
      await c.init(3);
      for (const id of [1, 2, 3]) c.start(id);
      const leader = await c.leader(60_000);
      const url = `mqtt://127.0.0.1:${c.members.get(leader)!.brokerPort}`;
      for (const n of ["w1", "w2", "w3"]) {
        const a = await SimAgent.start({ url, clusterId: c.clusterId, nodeId: n });
        a.startHeartbeats(PERIOD_MS);
        agents.push(a);
      }
      const spec = {
        name: "web",
        labels: { "fleet.disconnect-grace": "0" },
        mode: { replicated: { replicas: 6 } },
        taskTemplate: { containerSpec: { image: "busybox" } },
      };
      await c.api(leader, "POST", "/v1/services/create", spec);
      const tasks = async () =>
        (await c.api<TaskRow[]>(leader, "GET", "/v1/tasks?service=web")).body;
      const up = (t: TaskRow) => t.status.state === 512 && t.desiredState === 512;
      await c.waitFor("6 running", async () => (await tasks()).filter(up).length === 6, 60_000);
      const victim = agents.shift()!;
      const t0 = performance.now();
      await victim.stop();
      await c.waitFor(
        "tasks moved",
        async () => {
          const elsewhere = (await tasks()).filter(
            (t) => t.desiredState === 512 && t.nodeId !== "" && t.nodeId !== victim.nodeId,
          );
          return elsewhere.length === 6;
        },
        120_000,
      );
      const seconds = Number(((performance.now() - t0) / 1000).toFixed(2));
      log(
        table([
          ["heartbeat period ms", "disconnect grace", "seconds to reassign"],
          [PERIOD_MS, "0", seconds],
        ]),
      );
      return { seconds, heartbeatPeriodMs: PERIOD_MS };
    } finally {
      for (const a of agents) await a.stop().catch(() => {});
      await c.close();
    }
  },
};
