// Bounds of the operator API, units last in the names (the daemon-wide ones live in core/limits).

export const apiLimits = {
  /** Largest request body accepted; larger ones answer 413 without being read further. */
  requestBodyBytesMax: 1024 * 1024,
  /** A request whose headers and body do not arrive within this is cut. */
  requestTimeoutMs: 30_000,
  /** Event-stream clients at once; more answer 503. */
  eventClientsMax: 64,
  /** Events kept for `since` resumption. */
  eventHistoryMax: 4096,
  /** Bytes an event client may leave unread before it is dropped (it resumes with `since`). */
  eventClientBacklogBytesMax: 4 * 1024 * 1024,
  /** A comment line keeps idle event streams (and their proxies) open. */
  eventKeepaliveMs: 15_000,
  /** Length of an id, name or prefix in a path. */
  refLengthMax: 128,
} as const;
