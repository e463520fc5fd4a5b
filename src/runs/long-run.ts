import type { Inventory } from "../core/inventory.ts";
import type { Observation, ObservationOptions } from "../observe/observation.ts";
import type { Progress } from "../core/progress.ts";
import { Agent } from "../runtime/agent.ts";
import type { Cloud, CloudOptions } from "../runtime/cloud.ts";
import type { DaemonOutput } from "../runtime/daemon.ts";
import { HashCache } from "../runtime/hash-cache.ts";
import { collectDump } from "./dump.ts";
import { RunTracker } from "./tracker.ts";
import type { RunStatus } from "./record.ts";
import { fleetWebsiteAddress } from "./website-tunnel.ts";

/** Why a run is asked to end before its scenario does. */
export type StopReason = "stop-requested" | "ttl";

/** What a run takes for long runs; every field has a default. */
export interface LongRunOptions {
  /** Which daemon lines reach the console (default all); a spawn's `output` wins. */
  daemonOutput?: DaemonOutput;
  /** Per daemon log file, rotation included. */
  logCapBytes?: number;
  /** The run id, chosen by the parent of a detached run so it knows where to look. */
  runId?: string;
  /** Started by `run --detach`: nobody watches its console. */
  detached?: boolean;
  /** The register checker's limit at the end of the run. */
  checkTimeLimitMs?: number;
  /**
   * The runner shares the fleet's network (an orchestrator): status.json records where the first
   * agent reaches the website; or, given an agent's name, that the website is on that agent's
   * loopback (the orchestrator agent's), reached through its own SSH.
   */
  fleetWebsite?: true | { via: string };
}

interface Outcome {
  result: "passed" | "failed" | "interrupted";
  error?: string;
}

/**
 * The long-run side of one `fieldtest run`: history events from daemons, the status and
 * mirror that `runs`/`attach`/`stop`/`fetch-run` read, stop requests and the TTL turned into
 * a graceful end, and dumps before teardown. `run.ts` calls it at a few fixed points.
 */
export class LongRun {
  readonly daemonOutput: DaemonOutput;
  #tracker: RunTracker | undefined;
  #cloud: Cloud | undefined;
  #observation: Observation | undefined;
  #mirrorAgent: Agent | undefined;
  #mirrorHashes: HashCache | undefined;
  readonly #dumps: Promise<unknown>[] = [];
  #stopRequested = false;

  /** `stop` ends the run as its owner's signal would; `signal` is aborted once the run is stopping. */
  constructor(
    private readonly options: LongRunOptions,
    private readonly stop: (reason: StopReason) => void,
    private readonly signal: AbortSignal,
    private readonly progress: Progress,
  ) {
    this.daemonOutput = options.daemonOutput ?? "all";
  }

  observationOptions(): Partial<ObservationOptions> {
    return {
      ...(this.options.runId ? { runId: this.options.runId } : {}),
      ...(this.options.logCapBytes ? { logCapBytes: this.options.logCapBytes } : {}),
      ...(this.options.checkTimeLimitMs ? { checkTimeLimitMs: this.options.checkTimeLimitMs } : {}),
      onDumpAlert: (alert) => this.#dump(`alert-${alert}`),
    };
  }

  /** The history records the scenario's operations, every daemon event and every fault window. */
  cloudOptions(observation: Observation): Pick<CloudOptions, "history" | "onDaemonEvent" | "faultObserver" | "restartEvents"> {
    const history = observation.history.writer;
    return {
      history,
      onDaemonEvent: ({ type, ...data }) => history.recordEvent(type, data),
      faultObserver: { faultEvent: ({ type, ...data }) => history.recordEvent(type, data) },
      // Restarts are daemon-restart events already; a policy that gives up is news of its own.
      restartEvents: (event) => {
        if (event.type === "gave-up") history.recordEvent("daemon-gave-up", { agent: event.agent, daemon: event.daemon, restarts: event.restart });
      },
    };
  }

  /** The fleet is connected: status, mirror, stop requests and the TTL start here. */
  async started(observation: Observation, cloud: Cloud, inventory: Inventory, scenario: string, privateKey: string): Promise<void> {
    this.#cloud = cloud;
    this.#observation = observation;
    const first = inventory.agents[0];
    if (first) {
      // Its own connection: the mirror must outlive the scenario's, which close before teardown.
      this.#mirrorHashes = new HashCache();
      this.#mirrorAgent = new Agent(first, { privateKey, hashes: this.#mirrorHashes, logSink: () => {} });
    }
    this.#tracker = await RunTracker.start({
      runDirPath: observation.runDir.path,
      runId: observation.runDir.runId,
      namespace: inventory.namespace,
      scenario,
      expiresAt: inventory.expiresAt,
      agentNames: inventory.agents.map((a) => a.name),
      mirrorAgent: this.#mirrorAgent,
      detached: Boolean(this.options.detached),
      ...(this.options.fleetWebsite && observation.website ? { website: recordedWebsite(observation.website.url, this.options.fleetWebsite) } : {}),
      phase: () => observation.state.phase,
      onStop: (reason) => this.#requestStop(reason),
      progress: this.progress,
    });
  }

  #requestStop(reason: StopReason): void {
    if (this.signal.aborted || this.#stopRequested) return;
    this.#stopRequested = true;
    this.#observation?.history.writer.recordEvent("stop-requested", { reason });
    this.progress.step(reason === "ttl" ? "the fleet's TTL is reached: ending the run" : "a stop was requested (fieldtest stop): ending the run gracefully");
    // The same path as a first Ctrl+C: the scenario's signal, dumps, teardown.
    this.stop(reason);
  }

  /** Before the scenario's connections close: a dump when the run failed or was stopped. */
  async beforeClose(outcome: Outcome): Promise<void> {
    if (outcome.result !== "passed") this.#dump(outcome.result === "failed" ? "failed" : "stopped");
    await Promise.allSettled(this.#dumps);
    this.#tracker?.setResult(outcome.result, outcome.error);
  }

  #dump(reason: string): void {
    const cloud = this.#cloud;
    const observation = this.#observation;
    if (!cloud || !observation) return;
    const work = collectDump({ agents: cloud.agents, runDirPath: observation.runDir.path, reason, failurePaths: cloud.failurePaths }).then(
      (summary) => {
        observation.history.writer.recordEvent("dump", { reason, path: summary.path, agents: summary.agents.map((a) => a.agent) });
        this.progress.step(`dump (${reason}) saved in ${summary.path}`);
      },
      (error: Error) => this.progress.step(`dump (${reason}) failed: ${error.message}`),
    );
    this.#dumps.push(work);
  }

  withChecks<T extends Outcome>(outcome: T, observation: Observation): T & { checks?: boolean | "unknown" } {
    const checks = observation.history.checks;
    if (!checks || checks.checkers.length === 0) return outcome;
    for (const checker of checks.checkers) this.progress.step(`checker ${checker.checker}: ${checker.valid === true ? "valid" : checker.valid === false ? "INVALID" : "unknown"} (${checker.summary})`);
    if (checks.valid === false && outcome.result === "passed") {
      const error = "the history is not valid: see checks in result.json";
      this.#tracker?.setResult("failed", error);
      return { ...outcome, result: "failed", error, checks: false };
    }
    return { ...outcome, checks: checks.valid };
  }

  /** The final status and run directory reach the mirror, before any teardown removes it. */
  async finish(): Promise<void> {
    await this.#tracker?.finish();
    await this.#mirrorAgent?.close();
    await this.#mirrorHashes?.close();
  }
}

function recordedWebsite(url: string, fleetWebsite: true | { via: string }): RunStatus["website"] {
  const address = fleetWebsiteAddress(url);
  return fleetWebsite === true ? address : { ...address, via: fleetWebsite.via };
}
