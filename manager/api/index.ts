// The operator API (DESIGN §4, docs/api.md).
export { ApiError, type ApiErrorCode, type ErrorBody } from "./errors.ts";
export { EventHub } from "./events.ts";
export { apiLimits } from "./limits.ts";
export type { LogOptions, LogSource } from "./logs.ts";
export type { ApiRequest, ApiResponse, EventSink } from "./router.ts";
export { type ApiAddresses, ApiServer, type ApiServerOptions, routes } from "./server.ts";
export { DevTokenSource, type JoinRole, type JoinTokens, type TokenSource } from "./tokens.ts";
export type { FleetEvent, ServiceStatus } from "./views.ts";
