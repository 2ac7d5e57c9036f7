// Service logs. Containers' output lives on the boards; agents do not stream it to managers yet
// (edge agent work). The API takes a LogSource once one exists and answers 501 until then.

import type { Service } from "../../core/model/types.ts";
import type { EventSink } from "./router.ts";

export interface LogOptions {
  follow: boolean;
  /** Lines from the end of each task's log; undefined for all. */
  tail?: number;
  /** Only lines at or after this time (ms since the epoch). */
  sinceMs?: number;
}

export interface LogSource {
  /** Streams log lines of the service's tasks as `log` events until done or the client leaves. */
  stream(service: Service, options: LogOptions, sink: EventSink): Promise<void>;
}
