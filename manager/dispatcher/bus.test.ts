// The Bus suite against both implementations: MemoryBus, and MqttBus on a real mosquitto.
// Every client a case opens is closed after it, pass or fail (an open MQTT.js client keeps
// reconnecting and would keep the test process alive).

import { after, afterEach, before, describe, test } from "node:test";
import { have, type Mosquitto, need, startMosquitto } from "../../test/support/real.ts";
import type { Bus } from "./bus.ts";
import { MemoryBroker } from "./bus.ts";
import { busSuite } from "./bus-suite.ts";
import { MqttBus } from "./mqtt-bus.ts";

const cases = [
  "wildcardsAndBytes",
  "retainedAndCleared",
  "unsubscribeStopsDelivery",
  "burstKeepsOrder",
] as const;

function tracked(make: () => Promise<Bus>) {
  const open: Bus[] = [];
  return {
    client: async () => {
      const bus = await make();
      open.push(bus);
      return bus;
    },
    closeAll: async () => {
      await Promise.allSettled(open.splice(0).map((b) => b.close()));
    },
  };
}

describe("MemoryBus", () => {
  const broker = new MemoryBroker();
  const clients = tracked(async () => broker.client());
  afterEach(() => clients.closeAll());
  for (const name of cases) {
    test(name, async () => {
      await busSuite(clients, `mem-${name}`)[name]();
    });
  }
});

describe("MqttBus on mosquitto", () => {
  let mosq: Mosquitto | undefined;
  const clients = tracked(() => MqttBus.connect({ url: `mqtt://127.0.0.1:${mosq!.port}` }));
  before(async () => {
    // The burst case queues more than mosquitto's default 1,000 messages for its subscriber
    // (which mosquitto would drop); the dispatcher's broker needs the same headroom.
    if (have("mosquitto")) mosq = await startMosquitto("max_queued_messages 100000\n");
  });
  afterEach(() => clients.closeAll());
  after(async () => {
    await mosq?.stop();
  });
  for (const name of cases) {
    test(name, { timeout: 30_000 }, async (t) => {
      if (!need(t, "mosquitto")) return;
      await busSuite(clients, `mq-${name}`)[name]();
    });
  }
});
