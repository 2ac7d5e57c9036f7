// Control loops that keep the fleet converging to the desired state: they read and write only
// the store and react to its watch events (DESIGN §4). See docs/orchestration.md.
export { ConstraintEnforcer, overbooked } from "./constraint-enforcer.ts";
export { GlobalLoop } from "./global.ts";
export { jobProgress, ReplicatedJobLoop } from "./jobs.ts";
export { BaseLoop, type ControlLoop, type LoopOptions, OrchestratorError } from "./loop.ts";
export { lostAt, NodeFailureLoop } from "./node-failure.ts";
export {
  DISCONNECT_GRACE_LABEL,
  parseDurationMs,
  REBALANCE_LABEL,
  type ServiceOptions,
  serviceOptions,
} from "./options.ts";
export { createLoops, Orchestrator } from "./orchestrator.ts";
export { isReapable, TaskReaper, toReap } from "./reaper.ts";
export { type Pick, pickMove, RebalanceLoop } from "./rebalance.ts";
export { pickVictims, ReplicatedLoop } from "./replicated.ts";
export { RestartLoop, type RestartVerdict, restartsInHistory, restartVerdict } from "./restart.ts";
export { SchedulingLoop } from "./scheduling.ts";
export { UpdateLoop } from "./update.ts";
