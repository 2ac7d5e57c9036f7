export * from "./check.ts";
export * from "./defaults.ts";
export * from "./task-state.ts";
export * from "./types.ts";
export * from "./validate.ts";
