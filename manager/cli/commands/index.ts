// Every `fleet` command, in help order.

import type { Command } from "../command.ts";
import { caCommands } from "./ca.ts";
import { clusterCommands } from "./cluster.ts";
import { monitorCommand } from "./monitor.ts";
import { nodeCommands } from "./node.ts";
import { serviceCommands } from "./service.ts";
import { swarmCommands } from "./swarm.ts";

export const commands: Command[] = [
  ...swarmCommands,
  ...nodeCommands,
  ...serviceCommands,
  ...clusterCommands,
  ...caCommands,
  monitorCommand,
];
