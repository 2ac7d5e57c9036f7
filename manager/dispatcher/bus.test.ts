// The Bus suite against both implementations: MemoryBus, and MqttBus on a real mosquitto.

import { after, before, describe, test } from "node:test";
import { have, type Mosquitto, need, startMosquitto } from "../../test/support/real.ts";
import { MemoryBroker } from "./bus.ts";
import { busSuite } from "./bus-suite.ts";
import { MqttBus } from "./mqtt-bus.ts";

const cases = [
  "wildcardsAndBytes",
  "retainedAndCleared",
  "unsubscribeStopsDelivery",
  "burstKeepsOrder",
] as const;

describe("MemoryBus", () => {
  const broker = new MemoryBroker();
  for (const name of cases) {
    test(name, async () => {
      await busSuite({ client: async () => broker.client() }, `mem-${name}`)[name]();
    });
  }
});

describe("MqttBus on mosquitto", () => {
  let mosq: Mosquitto | undefined;
  before(async () => {
    if (have("mosquitto")) mosq = await startMosquitto();
  });
  after(async () => {
    await mosq?.stop();
  });
  for (const name of cases) {
    test(name, { timeout: 30_000 }, async (t) => {
      if (!need(t, "mosquitto")) return;
      const client = () => MqttBus.connect({ url: `mqtt://127.0.0.1:${mosq!.port}` });
      await busSuite({ client }, `mq-${name}`)[name]();
    });
  }
});
