// MQTT topic and filter rules the broker's own API enforces before anything reaches aedes,
// plus the reserved `$fleet/` space no client may use.

/** Topics under this prefix are the broker's own; clients may neither publish nor subscribe. */
export const RESERVED_PREFIX = "$fleet/";
/** Where a publish the mesh decided to swallow goes: a topic nothing can subscribe to. */
export const SINK_TOPIC = "$fleet/sink";

/** Why a topic name cannot be published to, or undefined when it can. */
export function topicNameProblem(topic: string): string | undefined {
  if (topic.length === 0) return "is empty [MQTT-4.7.3-1]";
  if (topic.includes("\u0000")) return "contains U+0000 [MQTT-4.7.3-2]";
  if (topic.includes("+") || topic.includes("#")) return "contains a wildcard [MQTT-3.3.2-2]";
  if (topic.startsWith("$")) return "starts with $, reserved for the broker";
  return undefined;
}

/** Why a topic filter cannot be subscribed to, or undefined when it can. */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return "is empty [MQTT-4.7.3-1]";
  if (filter.includes("\u0000")) return "contains U+0000 [MQTT-4.7.3-2]";
  if (filter.startsWith(RESERVED_PREFIX)) return `is under ${RESERVED_PREFIX}, reserved`;
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l.includes("#") && (l !== "#" || i !== levels.length - 1)) {
      return "uses # other than as the whole last level [MQTT-4.7.1-2]";
    }
    if (l.includes("+") && l !== "+") return "uses + other than as a whole level [MQTT-4.7.1-3]";
  }
  return undefined;
}

/** [MQTT-4.7.2-1]: filters starting with a wildcard do not match topics starting with $. */
export function startsWithWildcard(filter: string): boolean {
  return filter.startsWith("+") || filter.startsWith("#");
}
