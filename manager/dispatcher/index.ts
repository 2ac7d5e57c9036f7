// The dispatcher's public surface: the component, its Bus and Clock seams, and their
// implementations.

export { AssignmentPublisher, buildAssignment, inAssignment } from "./assignments.ts";
export type { Bus, MessageHandler, PublishOptions, Subscription } from "./bus.ts";
export { MemoryBroker, MemoryBus } from "./bus.ts";
export type { Clock, Timer } from "./clock.ts";
export { FakeClock, realClock } from "./clock.ts";
export type { DispatcherOptions, DispatcherStats } from "./dispatcher.ts";
export { Dispatcher } from "./dispatcher.ts";
export type { DropReason, Logger } from "./log.ts";
export { silentLogger, stderrLogger } from "./log.ts";
export { MqttBus, type MqttBusOptions } from "./mqtt-bus.ts";
