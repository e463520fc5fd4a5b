import { mkdir, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { namespaceSchema } from "../core/namespace.ts";
import type { Inventory } from "../core/inventory.ts";
import { knownHostsText } from "../targets/state.ts";
import { CappedLog, DEFAULT_LOG_CAP_BYTES, LogBatch, type LogCapStats } from "../runtime/capped-log.ts";
import type { RunResult, RunState } from "./run-state.ts";

/** A sortable, collision-resistant run id: `20250131-142501-3fa9`. */
export function newRunId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${stamp}-${randomBytes(2).toString("hex")}`;
}

/** Agent and daemon names become file names: keep them from escaping the logs directory. */
const FILE_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function checkFilePart(field: string, value: string): void {
  if (!FILE_PART.test(value) || value.includes("..")) {
    throw new Error(`${field} ${JSON.stringify(value)} cannot name a log file: use letters, digits, '.', '_' and '-', starting with a letter or digit`);
  }
}

/** Writes lines to one log file, appending, in order. */
export interface LogAppender {
  readonly path: string;
  /** `stamp`, when given, is written before the line with a space. */
  append(line: string, stamp?: string): void;
}

/**
 * `<baseDir>/<namespace>/<runId>/`: what a run leaves behind (config, inventory, daemon logs,
 * result, Prometheus snapshot) so it can be inspected or replayed after the fleet is gone.
 */
export class RunDir {
  readonly path: string;
  readonly logsDir: string;
  readonly namespace: string;
  readonly runId: string;
  /** The agents' pinned host keys, for the debug commands the website shows. */
  readonly knownHostsPath: string;
  readonly #logs = new Map<string, CappedLog>();
  /** The run's logs hold a turn's lines within one bound, however many daemons write. */
  readonly #logBatch = new LogBatch();
  /** Per daemon log: its file and one rotation together stay under this. */
  readonly logCapBytes: number;

  private constructor(path: string, namespace: string, runId: string, logCapBytes: number) {
    this.logCapBytes = logCapBytes;
    this.path = path;
    this.logsDir = join(path, "logs");
    this.namespace = namespace;
    this.runId = runId;
    this.knownHostsPath = join(path, "known_hosts");
  }

  /** Creates the directory; fails if that run id already exists rather than mixing two runs. */
  static async create(options: { baseDir: string; namespace: string; runId?: string; logCapBytes?: number; existingOk?: boolean }): Promise<RunDir> {
    const namespace = namespaceSchema.safeParse(options.namespace);
    if (!namespace.success) throw new Error(`run directory: namespace ${JSON.stringify(options.namespace)}: ${namespace.error.issues[0]?.message}`);
    const runId = options.runId ?? newRunId();
    checkFilePart("run id", runId);
    const nsDir = join(options.baseDir, namespace.data);
    // Owner-only: logs and results may hold what a scenario printed; other local users must not read them.
    await mkdir(nsDir, { recursive: true, mode: 0o700 });
    const path = join(nsDir, runId);
    try {
      await mkdir(path, { mode: 0o700 });
    } catch (error) {
      // A detached run's parent made the directory for the runner's console output.
      if ((error as NodeJS.ErrnoException).code === "EEXIST" && options.existingOk) return RunDir.#adopt(path, namespace.data, runId, options.logCapBytes);
      if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new Error(`run directory ${path} already exists: pick another run id`);
      throw error;
    }
    await mkdir(join(path, "logs"), { mode: 0o700 });
    return new RunDir(path, namespace.data, runId, options.logCapBytes ?? DEFAULT_LOG_CAP_BYTES);
  }

  static async #adopt(path: string, namespace: string, runId: string, logCapBytes: number | undefined): Promise<RunDir> {
    await mkdir(join(path, "logs"), { recursive: true, mode: 0o700 });
    return new RunDir(path, namespace, runId, logCapBytes ?? DEFAULT_LOG_CAP_BYTES);
  }

  /** The run's configuration as given (CLI flags, scenario options). */
  writeConfig(config: unknown): Promise<void> {
    return this.#writeJson("config.json", config);
  }

  /** inventory.json, and known_hosts beside it so `ssh -o UserKnownHostsFile=…` verifies the agents. */
  async writeInventory(inventory: Inventory): Promise<void> {
    await this.#writeJson("inventory.json", inventory);
    await writeFile(this.knownHostsPath, knownHostsText(inventory), { mode: 0o600 });
  }

  writeResult(result: RunResult & { phase?: string; finishedAt?: string; [detail: string]: unknown }): Promise<void> {
    return this.#writeJson("result.json", { finishedAt: new Date().toISOString(), ...result });
  }

  /** The last exposition of the run's pushed metrics, as /metrics served it. */
  writeMetrics(exposition: string): Promise<void> {
    return writeFile(join(this.path, "metrics.prom"), exposition, { mode: 0o600 });
  }

  /** The appender for `logs/<agent>-<daemon>.log`; the same one for repeated calls. */
  logAppender(agent: string, daemon: string): LogAppender {
    checkFilePart("agent", agent);
    checkFilePart("daemon", daemon);
    const path = join(this.logsDir, `${agent}-${daemon}.log`);
    let log = this.#logs.get(path);
    if (!log) {
      log = new CappedLog(path, this.logCapBytes, this.#logBatch);
      this.#logs.set(path, log);
    }
    const target = log;
    return { path, append: (line, stamp) => target.append(line, stamp) };
  }

  /** Each log's cap, and what it wrote and dropped. */
  logCaps(): LogCapStats[] {
    return [...this.#logs.values()].map((log) => log.stats());
  }

  /** Mirrors every log line the RunState receives into the log files; returns the unsubscribe. */
  recordLogs(state: RunState): () => void {
    // Made once per agent+daemon and found without building a key: a thousand streaming agents
    // send ~100,000 lines/s.
    const appenders = new Map<string, Map<string, LogAppender>>();
    return state.subscribe((event) => {
      if (event.type !== "log") return;
      const { agent, daemon, time, line } = event.log;
      let byDaemon = appenders.get(agent);
      if (!byDaemon) appenders.set(agent, (byDaemon = new Map()));
      let appender = byDaemon.get(daemon);
      if (!appender) byDaemon.set(daemon, (appender = this.logAppender(agent, daemon)));
      appender.append(line, time);
    });
  }

  /** Closes the log files, writing the lines still held for the current turn. */
  async close(): Promise<void> {
    for (const log of this.#logs.values()) log.close();
    this.#logs.clear();
  }

  async #writeJson(name: string, value: unknown): Promise<void> {
    await writeFile(join(this.path, name), `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  }
}
