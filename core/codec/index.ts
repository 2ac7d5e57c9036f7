export * from "./cbor.ts";
export * from "./messages.ts";
export * from "./shape.ts";
