import { detachRun } from "../runs/homes/detach.ts";
import { quoteArg } from "../transport/quote.ts";
import type { CliContext } from "./context.ts";
import type { Interrupt } from "./interrupt.ts";
import { writeJson } from "./output.ts";
import { runContext, runSpec, type RunRequest } from "./run.ts";

export interface DetachRequest extends RunRequest {
  /** `--website-port` was given: a runner on another machine otherwise takes a free port. */
  websitePortGiven: boolean;
}

/**
 * `run --detach`: the flags as a RunSpec, given to the home its target describes
 * (src/runs/homes/): a container on this machine's engine or an SSH host's, a process on the
 * fleet's runner agent, or a process here. Returns once the runner tracks the run.
 */
export async function detachCommand(context: CliContext, request: DetachRequest, interrupt: Interrupt): Promise<void> {
  const spec = await runSpec({ ...request, json: false, longRun: { ...request.longRun, detached: true } });
  const detached = await detachRun(runContext(context, request.json), spec, { websitePortGiven: request.websitePortGiven, signal: interrupt.signal });
  const { runId, namespace, runDir, details } = detached;
  if (request.json) return writeJson(context.stdout, { runId, namespace, runDir, ...details });
  const { source } = request;
  // A runner agent is reached through the inventory file's fleet, which a namespace may not name here.
  const fleet =
    detached.home === "agent-process" && source.kind === "inventory" ? `--inventory ${quoteArg(source.path)}${source.keyPath ? ` --ssh-key ${quoteArg(source.keyPath)}` : ""}` : `--namespace ${namespace}`;
  const website = typeof details.website === "string" ? `  website:    ${details.website}\n` : "";
  context.stdout.write(`run ${runId} started in namespace ${namespace}\n${website}  follow it:  fieldtest attach ${fleet}\n  stop it:    fieldtest stop ${fleet}\n`);
}
