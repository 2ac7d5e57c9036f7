// Reconnect delays: exponential with "equal jitter" (half fixed, half random), capped. Fleet
// drives reconnects itself (MQTT.js's reconnectPeriod is a fixed period: thousands of agents
// losing a manager at once would come back in lockstep).

export interface Backoff {
  baseMs: number;
  maxMs: number;
}

/** The delay before attempt `attempt` (0-based since the last success); random in [0, 1). */
export function backoffDelay(attempt: number, b: Backoff, random: () => number): number {
  const exp = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp / 2 + random() * (exp / 2));
}
