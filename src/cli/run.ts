import { parseTtl } from "../core/namespace.ts";
import type { LocalFleetRequest } from "./fleet.ts";
import type { PlanLimits } from "../targets/pulumi/plan.ts";
import type { RunContext } from "../runs/context.ts";
import type { LongRunOptions } from "../runs/long-run.ts";
import { paramsFromFile, RunSession, type RunOutcome } from "../runs/session.ts";
import { parseRunSpec, readRunSpec, type RunSpec } from "../runs/spec.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./context.ts";
import type { Interrupt } from "./interrupt.ts";
import { preflightObserve, type ObserveRequest } from "./observe-options.ts";
import { prefixedLogSink, stderrProgress, writeJson } from "./output.ts";
import type { ScenarioArguments } from "./scenario-options.ts";

export type { RunOutcome };

/** Where the fleet comes from, as the flags say it; each source says whether this run owns (and so removes) it. */
export type FleetSource =
  | { kind: "localhost"; request: Omit<LocalFleetRequest, "groups" | "dockerfileDirs">; limits: PlanLimits; keep: boolean }
  | { kind: "namespace"; namespace: string; keyPath: string | undefined }
  | { kind: "inventory"; path: string; keyPath: string | undefined; endAgents?: boolean };

/** `fieldtest run`'s flags, grouped; `runSpec` turns them into the RunSpec a RunSession runs. */
export interface RunRequest {
  scenario: string;
  source: FleetSource;
  /** `--param`, `--params` and the group overrides (which only a fleet made for the run uses). */
  scenarioArgs: ScenarioArguments;
  /** `--keep-alive` alone is `true`; with a duration (`10m`), its value. */
  keepAlive: boolean | string;
  json: boolean;
  observe: ObserveRequest;
  /** History, console level, log caps, dumps (`--daemon-output`, `--log-cap`, detached runs). */
  longRun?: LongRunOptions;
}

/** `--keep-alive [duration]`: false, true (until stopped), or milliseconds. */
export function keepAliveOption(value: boolean | string | undefined): boolean | number {
  if (value === undefined || typeof value === "boolean") return Boolean(value);
  try {
    return parseTtl(value) * 1000;
  } catch (error) {
    throw new UsageError(`--keep-alive ${value}: ${(error as Error).message}; give a duration such as 10m, or no value to wait until stopped`);
  }
}

/** The RunSpec of a `fieldtest run` command line. */
export async function runSpec(request: RunRequest): Promise<RunSpec> {
  const { source, scenarioArgs, observe, longRun = {} } = request;
  const fleet: RunSpec["fleet"] =
    source.kind === "localhost"
      ? { kind: "localhost", ...source.request, overrides: scenarioArgs.overrides, limits: source.limits }
      : source.kind === "namespace"
        ? { kind: "namespace", namespace: source.namespace, ...(source.keyPath ? { keyPath: source.keyPath } : {}) }
        : { kind: "inventory", path: source.path, ...(source.keyPath ? { keyPath: source.keyPath } : {}) };
  const teardown = source.kind === "localhost" ? (source.keep ? "keep" : "destroy") : source.kind === "inventory" && source.endAgents ? "end-agents" : "keep";
  const fromFile = scenarioArgs.paramsFile === undefined ? {} : await paramsFromFile(scenarioArgs.paramsFile);
  return parseRunSpec(
    {
      scenario: request.scenario,
      params: { pairs: scenarioArgs.pairs, ...fromFile },
      fleet,
      teardown,
      observation: {
        runsDir: observe.runsDir,
        ...(observe.website ? { website: observe.website } : {}),
        ...(observe.prometheus ? { prometheus: observe.prometheus } : {}),
        monitoring: observe.monitoring,
        ...(observe.grafana ? { grafana: observe.grafana } : {}),
        ...(longRun.daemonOutput ? { daemonOutput: longRun.daemonOutput } : {}),
        ...(longRun.logCapBytes ? { logCapBytes: longRun.logCapBytes } : {}),
        ...(longRun.runId ? { runId: longRun.runId } : {}),
        ...(longRun.fleetWebsite ? { fleetWebsite: longRun.fleetWebsite } : {}),
      },
      limits: { keepAlive: keepAliveOption(request.keepAlive), ...(longRun.checkTimeLimitMs ? { checkTimeLimitMs: longRun.checkTimeLimitMs } : {}) },
      detached: Boolean(longRun.detached),
    },
    "run",
  );
}

/** The run's context from the CLI's: progress on stderr, scenario lines on stdout (stderr with --json). */
export function runContext(context: CliContext, json: boolean): RunContext {
  return {
    env: context.env,
    cwd: context.cwd,
    packageRoot: context.packageRoot,
    docker: context.docker,
    stderr: context.stderr,
    progress: stderrProgress(context.stderr),
    log: prefixedLogSink(json ? context.stderr : context.stdout),
  };
}

/** `fieldtest run`: the flags as a RunSpec, run by a RunSession that the first Ctrl+C stops. */
export async function runCommand(context: CliContext, request: RunRequest, interrupt: Interrupt): Promise<RunOutcome> {
  const spec = await runSpec({ ...request, observe: await preflightObserve(request.observe, context.env, context.docker) });
  const outcome = await new RunSession(runContext(context, request.json), spec, interrupt.signal).run();
  if (request.json) writeJson(context.stdout, outcome);
  return outcome;
}

/**
 * `fieldtest runner <run-spec.json>` (hidden): a detached run's runner, wherever its home put it.
 * It runs the spec its parent staged; a stop request, the TTL or SIGTERM end it gracefully.
 */
export async function runnerCommand(context: CliContext, specPath: string, interrupt: Interrupt): Promise<RunOutcome> {
  const spec = await readRunSpec(specPath);
  return new RunSession(runContext(context, false), spec, interrupt.signal).run();
}
