// Names fleet's certificates carry, in a module of their own so that code needing only a name
// (the edge agent's TLS options) does not load the certificate code with it.

/** DNS name every manager certificate carries; agents verify the broker against it. */
export const MANAGER_SERVER_NAME = "fleet-manager";
