import { rename, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Progress } from "../core/progress.ts";
import type { Agent } from "../runtime/agent.ts";
import { RunMirror } from "./mirror.ts";
import { STATUS_FILE, TRACKED_FILE, type RunStatus } from "./record.ts";

const SYNC_EVERY_MS = 1000;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface TrackerOptions {
  runDirPath: string;
  runId: string;
  namespace: string;
  scenario: string;
  expiresAt: string;
  /** The fleet's agent names, for `runs`. */
  agentNames: readonly string[];
  /** Where the run directory is mirrored (the fleet's first agent, on a connection of its own). */
  mirrorAgent: Agent | undefined;
  detached: boolean;
  /** Where the fleet's first agent reaches the run's website, when the runner knows it. */
  website?: RunStatus["website"];
  phase(): string;
  /** `fieldtest stop` was run, or the fleet's TTL is reached: end the run as Ctrl+C would. */
  onStop(reason: "stop-requested" | "ttl"): void;
  progress: Progress;
}

/**
 * A run's status.json, kept current, and its run directory mirrored every second to the
 * fleet's first agent, where `runs`, `attach`, `stop` and `fetch-run` find it from any
 * machine. The runner also ends itself at the fleet's TTL: after that nothing it drives exists.
 */
export class RunTracker {
  #status: RunStatus;
  readonly #mirror: RunMirror | undefined;
  readonly #timers: NodeJS.Timeout[] = [];
  #syncing: Promise<void> = Promise.resolve();
  #stopSeen = false;
  #mirrorFailed = false;

  private constructor(private readonly options: TrackerOptions) {
    const now = new Date().toISOString();
    this.#status = {
      id: options.runId,
      namespace: options.namespace,
      scenario: options.scenario,
      phase: options.phase(),
      result: "running",
      startedAt: now,
      updatedAt: now,
      expiresAt: options.expiresAt,
      agents: [...options.agentNames],
      detached: options.detached,
      runner: { host: hostname(), pid: process.pid },
      ...(options.website ? { website: options.website } : {}),
      final: false,
    };
    this.#mirror = options.mirrorAgent ? new RunMirror(options.mirrorAgent, options.runDirPath, options.runId) : undefined;
  }

  static async start(options: TrackerOptions): Promise<RunTracker> {
    const tracker = new RunTracker(options);
    await tracker.#sync();
    await writeFile(join(options.runDirPath, TRACKED_FILE), "", { mode: 0o600 });
    const tick = setInterval(() => void tracker.#queueSync(), SYNC_EVERY_MS);
    tick.unref();
    tracker.#timers.push(tick);
    tracker.#armTtl(Date.parse(options.expiresAt));
    return tracker;
  }

  /** setTimeout holds at most ~24.8 days and the TTL may be 30: wait in steps until it is due. */
  #armTtl(expiresAt: number): void {
    const left = expiresAt - Date.now();
    const timer = left > MAX_TIMER_MS ? setTimeout(() => this.#armTtl(expiresAt), MAX_TIMER_MS) : setTimeout(() => this.options.onStop("ttl"), Math.max(0, left));
    timer.unref();
    this.#timers.push(timer);
  }

  setResult(result: RunStatus["result"], error?: string): void {
    this.#status = { ...this.#status, result, ...(error === undefined ? {} : { error }) };
    void this.#queueSync();
  }

  /** The last status (final) and the last bytes of the run directory go to the mirror. */
  async finish(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#status = { ...this.#status, final: true };
    await this.#queueSync();
  }

  #queueSync(): Promise<void> {
    this.#syncing = this.#syncing.then(() => this.#sync());
    return this.#syncing;
  }

  async #sync(): Promise<void> {
    this.#status = { ...this.#status, phase: this.options.phase(), updatedAt: new Date().toISOString() };
    const path = join(this.options.runDirPath, STATUS_FILE);
    // Owner-only, as every file of the run directory: it names hosts, the runner and errors.
    await writeFile(`${path}.part`, `${JSON.stringify(this.#status, null, 2)}\n`, { mode: 0o600 });
    await rename(`${path}.part`, path);
    if (!this.#mirror) return;
    try {
      const stop = await this.#mirror.sync();
      this.#mirrorFailed = false;
      if (stop && !this.#stopSeen) {
        this.#stopSeen = true;
        this.options.onStop("stop-requested");
      }
    } catch (error) {
      // The agent may be restarting or gone at teardown; the local run directory is complete either way.
      if (!this.#mirrorFailed) this.options.progress.step(`mirroring the run to ${this.#mirror.agentName} failed: ${(error as Error).message}`);
      this.#mirrorFailed = true;
    }
  }
}
