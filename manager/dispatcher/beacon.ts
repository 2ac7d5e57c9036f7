// The leader's manager liveness beacon: a small CBOR `beacon` on the cluster-wide
// `managers/beacon` topic every heartbeat period (QoS 0, not retained). Agents behind an external
// broker count as online only while they hear it (or an assignment): the broker staying up when
// every manager died must not keep them online (edge-agent/session/manager-liveness.ts).

import { encodeMessage } from "../../core/codec/index.ts";
import type { Bus } from "./bus.ts";
import type { Clock, Timer } from "./clock.ts";

export interface BeaconOptions {
  bus: Bus;
  topic: string;
  managerId: string;
  clock: Clock;
  /** The cluster's heartbeat period, read at each beacon (a cluster update changes it). */
  periodMs: () => number;
}

export class Beacon {
  readonly #o: BeaconOptions;
  #seq = 0;
  #timer: Timer | undefined;
  #running = false;
  published = 0;

  constructor(o: BeaconOptions) {
    this.#o = o;
  }

  /** Publishes one beacon now and then one every period until stop(). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#tick();
  }

  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #tick(): void {
    if (!this.#running) return;
    const periodMs = this.#o.periodMs();
    const body = { managerId: this.#o.managerId, seq: ++this.#seq, periodMs };
    this.published++;
    // QoS 0: a lost beacon is replaced by the next one (a broker that is down fails it here).
    this.#o.bus
      .publish(this.#o.topic, encodeMessage("beacon", body), { qos: 0, retain: false })
      .catch(() => {});
    this.#timer = this.#o.clock.setTimer(periodMs, () => this.#tick());
  }
}
