// The scheduler: filter pipeline + ranking over a read-only view, returning a plan; it
// explains every "no suitable node".
export { type Fit, fit, type Group, type Reason } from "./filters.ts";
export { needsScheduling, schedule } from "./schedule.ts";
export type { Plan, ScheduleOptions, SchedulerView } from "./view.ts";
