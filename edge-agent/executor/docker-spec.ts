// Maps fleet's ContainerConfig to the Engine API's create body. Pure: table-tested.
// Never sets a Docker restart policy ("no"): restarts are the agent's decision.

import type Docker from "dockerode";
import type { ContainerConfig } from "./executor.ts";

const MS_TO_NS = 1_000_000;

/** `host[:container[:permissions]]` as `docker run --device` reads it. */
export function parseDevice(spec: string): Docker.DeviceMapping {
  const [host = "", container, perms] = spec.split(":");
  return {
    PathOnHost: host,
    PathInContainer: container || host,
    CgroupPermissions: perms || "rwm",
  };
}

function healthcheck(h: NonNullable<ContainerConfig["healthcheck"]>): Docker.HealthConfig {
  // Docker wants the form first; a bare command is exec form, as `HEALTHCHECK CMD` writes it.
  const forms = ["NONE", "CMD", "CMD-SHELL"];
  const test = forms.includes(h.test[0] ?? "") ? h.test : ["CMD", ...h.test];
  const out: Docker.HealthConfig = { Test: test };
  if (h.intervalMs !== undefined) out.Interval = h.intervalMs * MS_TO_NS;
  if (h.timeoutMs !== undefined) out.Timeout = h.timeoutMs * MS_TO_NS;
  if (h.retries !== undefined) out.Retries = h.retries;
  if (h.startPeriodMs !== undefined) out.StartPeriod = h.startPeriodMs * MS_TO_NS;
  return out;
}

export function toCreateOptions(c: ContainerConfig): Docker.ContainerCreateOptions {
  const host: Docker.HostConfig = {
    RestartPolicy: { Name: "no" },
    Privileged: c.privileged === true,
  };
  if (c.nanoCPUs) host.NanoCpus = c.nanoCPUs;
  if (c.memoryBytes) host.Memory = c.memoryBytes;
  if (c.devices?.length) host.Devices = c.devices.map(parseDevice);
  if (c.mounts?.length) {
    host.Mounts = c.mounts.map((m) => ({
      Type: m.type,
      Target: m.target,
      Source: m.source ?? "",
      ReadOnly: m.readOnly === true,
    }));
  }
  const opts: Docker.ContainerCreateOptions = {
    name: c.name,
    Image: c.image,
    Labels: c.labels,
    HostConfig: host,
  };
  if (c.command?.length) opts.Entrypoint = c.command;
  if (c.args?.length) opts.Cmd = c.args;
  if (c.env?.length) opts.Env = c.env;
  if (c.user) opts.User = c.user;
  if (c.healthcheck) opts.Healthcheck = healthcheck(c.healthcheck);
  return opts;
}
