export * from "./actions.ts";
export * from "./encoding.ts";
export * from "./indexes.ts";
export * from "./store.ts";
export * from "./tx.ts";
export * from "./watch.ts";
export * from "./writer.ts";
