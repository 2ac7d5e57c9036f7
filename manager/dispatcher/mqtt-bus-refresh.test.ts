// The leader's bus reads its connection options again before every reconnect, so a renewed
// manager certificate is what the next connection presents (here: the username stands in).

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Authorizer, permissiveAuthorizer } from "../broker/authorizer.ts";
import { Broker } from "../broker/broker.ts";
import { MqttBus } from "./mqtt-bus.ts";

test("a reconnect presents the options refresh() returns now", async () => {
  const seen: string[] = [];
  const authorizer: Authorizer = {
    ...permissiveAuthorizer,
    authenticate: (info) => {
      seen.push(`${info.clientId}:${info.username}`);
      return permissiveAuthorizer.authenticate(info);
    },
  };
  const broker = await Broker.start({ host: "127.0.0.1", port: 0, authorizer });
  let generation = 1;
  const bus = await MqttBus.connect({
    url: `mqtt://127.0.0.1:${broker.port}`,
    clientId: "bus",
    refresh: () => ({ username: `gen${generation}` }),
  });
  try {
    assert.deepEqual(seen.sort(), ["bus-rx:gen1", "bus-tx:gen1"]);
    generation = 2;
    assert.equal(
      broker.dropSessions(() => true, "test"),
      2,
    );
    const deadline = Date.now() + 10_000;
    while (seen.filter((s) => s.endsWith(":gen2")).length < 2) {
      assert.ok(Date.now() < deadline, `no reconnect with the new options: ${seen.join(" ")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(seen.filter((s) => s.endsWith(":gen2")).sort(), [
      "bus-rx:gen2",
      "bus-tx:gen2",
    ]);
  } finally {
    await bus.close();
    await broker.close();
  }
});
