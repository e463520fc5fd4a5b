import { z } from "zod";

/**
 * Where a run's live state is kept on the fleet: on the first agent of the namespace,
 * under the login user's home. That agent is reachable by anyone holding the namespace's
 * inventory and key, so `runs`, `attach`, `stop` and `fetch-run` work from any machine, not
 * only from the one that started the run.
 */
export const REMOTE_RUNS_DIR = ".fieldtest/runs";

export function remoteRunDir(runId: string): string {
  return `${REMOTE_RUNS_DIR}/${runId}`;
}

/** Created by `fieldtest stop`; the runner sees it within a second and ends the run gracefully. */
export function remoteStopFile(runId: string): string {
  return `${REMOTE_RUNS_DIR}/${runId}.stop`;
}

export const STATUS_FILE = "status.json";
export const CONSOLE_FILE = "console.log";
/**
 * Written by the runner once its first status is on this machine and on the fleet's mirror:
 * `run --detach` returns then, so an `attach` right after finds the run wherever it looks.
 */
export const TRACKED_FILE = "tracked";

export const runStatusSchema = z.object({
  id: z.string(),
  namespace: z.string(),
  scenario: z.string(),
  phase: z.string(),
  /** running until the scenario ends; then passed, failed or interrupted. */
  result: z.enum(["running", "passed", "failed", "interrupted"]),
  error: z.string().optional(),
  startedAt: z.string(),
  updatedAt: z.string(),
  expiresAt: z.string(),
  agents: z.array(z.string()),
  detached: z.boolean(),
  runner: z.object({ host: z.string(), pid: z.number() }),
  /**
   * Where the fleet's first agent reaches the run's website, recorded by a runner that shares the
   * fleet's network (a runner container); `fieldtest website` tunnels to it through that agent.
   */
  website: z
    .object({
      scheme: z.enum(["http", "https"]),
      host: z.string(),
      port: z.number().int(),
      /** The agent whose SSH reaches it, when not the first one: the runner agent, whose loopback it listens on. */
      via: z.string().optional(),
    })
    .optional(),
  /** Set once the runner has finished everything (checks, dumps, teardown): no more updates come. */
  final: z.boolean(),
});

export type RunStatus = z.infer<typeof runStatusSchema>;

export function parseRunStatus(text: string, where: string): RunStatus {
  const parsed = runStatusSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${where}: not a run status: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}
