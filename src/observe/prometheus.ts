import { createWriteStream } from "node:fs";
import { cp, mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { stringify } from "yaml";
import { findExecutable } from "../core/executables.ts";
import type { Inventory } from "../core/inventory.ts";
import { isPrometheusDuration, renderRulesFile, type AlertRule } from "./alerts.ts";
import { waitForHttp } from "./http-ready.ts";
import { LineSplitter } from "../runtime/line-splitter.ts";
import { Ring } from "./ring.ts";
import { spawnTied, type TiedProcess } from "./tied-process.ts";

import type { PrometheusSourceSpec } from "../runtime/observer.ts";

export type { PrometheusSourceSpec } from "../runtime/observer.ts";

/** A scrape job with its address resolved. */
export interface PrometheusSource {
  /** The job name; unique, and not `fieldtest` or `node` which fieldtest uses. */
  name: string;
  host: string;
  port: number;
  path?: string;
  /** Added as the `agent` label so dashboards can group by agent. */
  agent?: string;
}

export interface NodeExporterTarget {
  agent: string;
  host: string;
  port: number;
}

/** How Prometheus reaches the fieldtest website's /metrics. */
export interface WebsiteTarget {
  host: string;
  port: number;
  scheme?: "http" | "https";
  /**
   * The website's credentials. PrometheusServer.start writes `password` to a 0600 file and
   * the config names only that file (`passwordFile`), so prometheus.yml holds no secret.
   */
  basicAuth?: { username: string; password: string } | { username: string; passwordFile: string };
  /** For the website's self-signed certificate. */
  insecureSkipVerify?: boolean;
}

export interface PrometheusConfigInput {
  /** Default 15s; tests use 1s. */
  scrapeInterval?: string;
  evaluationInterval?: string;
  website?: WebsiteTarget;
  nodeExporters?: NodeExporterTarget[];
  sources?: PrometheusSource[];
  /**
   * e.g. `{ namespace, run }`. Prometheus adds them to alerts, federation and remote write, not
   * to stored samples: a snapshot's origin is recorded by the run directory it sits in.
   */
  externalLabels?: Record<string, string>;
  /** Absolute path of the rules file, when there are alerts. */
  rulesFile?: string;
}

export class PrometheusError extends Error {}

const JOB_NAME = /^[a-zA-Z_][a-zA-Z0-9_-]*$/;
const RESERVED_JOBS = new Set(["fieldtest", "node"]);

/** Looks the agent up in the inventory; the error names the field and the known agents. */
export function resolveSource(inventory: Inventory, spec: PrometheusSourceSpec): PrometheusSource {
  const agent = inventory.agents.find((a) => a.name === spec.agent);
  if (!agent) {
    throw new PrometheusError(
      `addPrometheusSource("${spec.name}"): agent "${spec.agent}" is not in the inventory (agents: ${inventory.agents.map((a) => a.name).join(", ") || "none"})`,
    );
  }
  return { name: spec.name, host: agent.host, port: spec.port, agent: agent.name, ...(spec.path === undefined ? {} : { path: spec.path }) };
}

function checkSource(source: PrometheusSource): void {
  const where = `Prometheus source ${JSON.stringify(source.name)}`;
  if (typeof source.name !== "string" || !JOB_NAME.test(source.name)) {
    throw new PrometheusError(`${where}: name must be letters, digits, '_' or '-', starting with a letter or '_' (it becomes the job name)`);
  }
  if (RESERVED_JOBS.has(source.name)) throw new PrometheusError(`${where}: name is reserved for fieldtest's own jobs; pick another name`);
  if (!Number.isInteger(source.port) || source.port < 1 || source.port > 65535) {
    throw new PrometheusError(`${where}: port must be an integer from 1 to 65535, got ${source.port}`);
  }
  if (source.path !== undefined && !source.path.startsWith("/")) {
    throw new PrometheusError(`${where}: path must start with '/', e.g. /metrics`);
  }
}

/** Brackets IPv6 literals for a `host:port` target. */
function address(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The prometheus.yml for a run: the website, each agent's node exporter, every added source. */
export function renderPrometheusConfig(input: PrometheusConfigInput): string {
  for (const field of ["scrapeInterval", "evaluationInterval"] as const) {
    const value = input[field];
    if (value !== undefined && !isPrometheusDuration(value)) {
      throw new PrometheusError(`Prometheus config: ${field} must be a Prometheus duration such as "15s", got ${JSON.stringify(value)}`);
    }
  }
  const jobs: Record<string, unknown>[] = [];
  const { website } = input;
  if (website) {
    jobs.push({
      job_name: "fieldtest",
      scheme: website.scheme ?? "http",
      ...(website.basicAuth
        ? {
            basic_auth:
              "passwordFile" in website.basicAuth
                ? { username: website.basicAuth.username, password_file: website.basicAuth.passwordFile }
                : { username: website.basicAuth.username, password: website.basicAuth.password },
          }
        : {}),
      ...(website.insecureSkipVerify ? { tls_config: { insecure_skip_verify: true } } : {}),
      static_configs: [{ targets: [address(website.host, website.port)] }],
    });
  }
  if (input.nodeExporters?.length) {
    jobs.push({
      job_name: "node",
      static_configs: input.nodeExporters.map((n) => ({ targets: [address(n.host, n.port)], labels: { agent: n.agent } })),
    });
  }
  const seen = new Set<string>();
  for (const source of input.sources ?? []) {
    checkSource(source);
    if (seen.has(source.name)) throw new PrometheusError(`Prometheus source "${source.name}": name appears twice; source names must be unique`);
    seen.add(source.name);
    jobs.push({
      job_name: source.name,
      metrics_path: source.path ?? "/metrics",
      static_configs: [{ targets: [address(source.host, source.port)], ...(source.agent ? { labels: { agent: source.agent } } : {}) }],
    });
  }
  return stringify({
    global: {
      scrape_interval: input.scrapeInterval ?? "15s",
      evaluation_interval: input.evaluationInterval ?? input.scrapeInterval ?? "15s",
      ...(input.externalLabels ? { external_labels: input.externalLabels } : {}),
    },
    ...(input.rulesFile ? { rule_files: [input.rulesFile] } : {}),
    scrape_configs: jobs,
  });
}

/** Writes via a temporary file and rename, so Prometheus never reloads a half-written file; owner-only. */
async function writeAtomically(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** Prometheus' log lines (logfmt) that end a reload, and the one that says it failed. */
const RELOAD_DONE = /msg="(Completed loading of configuration file|Error reloading config)"/;
const RELOAD_FAILED = /msg="Error reloading config"/;
const LOG_ERROR = /level=error/;
const RELOAD_TIMEOUT_MS = 10_000;

export interface QueryResult {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query against the Prometheus at `prometheusUrl`; `time` defaults to now. */
export async function queryPrometheus(prometheusUrl: string, expr: string, time?: Date): Promise<QueryResult[]> {
  const url = new URL("/api/v1/query", prometheusUrl);
  url.searchParams.set("query", expr);
  if (time) url.searchParams.set("time", String(time.getTime() / 1000));
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: QueryResult[] } };
  if (body.status !== "success" || !body.data) throw new PrometheusError(`query ${JSON.stringify(expr)} failed: ${body.error ?? response.statusText}`);
  if (body.data.resultType !== "vector") throw new PrometheusError(`query ${JSON.stringify(expr)} returned a ${body.data.resultType}, expected an instant vector`);
  return body.data.result;
}

export interface PrometheusStartOptions {
  /** The run directory: Prometheus keeps its config, rules, log and TSDB in `<runDir>/prometheus/`. */
  runDir: string;
  config: Omit<PrometheusConfigInput, "rulesFile">;
  alerts?: AlertRule[];
  /** Default `prometheus` from PATH (Debian package `prometheus`). */
  binary?: string;
  host?: string;
  /** Default 9090. */
  port?: number;
  /** How long to wait for /-/ready (default 30 s). */
  readyTimeoutMs?: number;
}

export interface ImportSnapshotOptions {
  /** A directory written by `PrometheusServer.snapshot()`; it is copied, never modified. */
  snapshotDir: string;
  /** Where the working copy, config and log go. */
  workDir: string;
  binary?: string;
  host?: string;
  port?: number;
  readyTimeoutMs?: number;
}

interface Launch {
  /** The run (or import work) directory; the default snapshot destination is inside it. */
  runDir: string;
  dir: string;
  storagePath: string;
  binary: string;
  host: string;
  port: number;
  readyTimeoutMs: number;
  /** Extra flags: the imported mode keeps every block however old. */
  extraArgs: string[];
  /** Files holding secrets, removed when Prometheus stops. */
  secretFiles: string[];
}

/**
 * A real Prometheus child process, tied to this process so it never outlives it; stopped with
 * TERM, then KILL if it does not exit in time. Its admin and lifecycle APIs stay off (anyone
 * on this machine, or a web page through the browser, could otherwise delete series or stop
 * it): reloads are a SIGHUP, confirmed in its log, and a snapshot is a copy of its closed TSDB.
 */
export class PrometheusServer {
  readonly url: string;
  readonly configPath: string;
  readonly rulesPath: string;
  readonly storagePath: string;
  readonly #runDir: string;
  readonly #process: TiedProcess;
  readonly #stderrTail: Ring<string>;
  readonly #logListeners: Set<(line: string) => void>;
  readonly #secretFiles: string[];
  #config: PrometheusConfigInput;
  #alerts: AlertRule[];
  #stopping = false;
  #unexpectedExit: string | undefined;

  private constructor(process_: TiedProcess, log: { tail: Ring<string>; listeners: Set<(line: string) => void> }, launch: Launch, config: PrometheusConfigInput, alerts: AlertRule[]) {
    this.#process = process_;
    this.#stderrTail = log.tail;
    this.#logListeners = log.listeners;
    this.#secretFiles = launch.secretFiles;
    this.url = `http://${address(launch.host, launch.port)}`;
    this.configPath = join(launch.dir, "prometheus.yml");
    this.rulesPath = join(launch.dir, "rules.yml");
    this.storagePath = launch.storagePath;
    this.#runDir = launch.runDir;
    this.#config = config;
    this.#alerts = alerts;
  }

  get pid(): number | undefined {
    return this.#process.child.pid;
  }

  /** Set when Prometheus ended without being asked to (killed, crashed): why, with its last words. */
  get unexpectedExit(): string | undefined {
    return this.#unexpectedExit;
  }

  /** Settles when the process has ended, asked to or not. */
  get exited(): Promise<void> {
    return this.#process.exited;
  }

  /** Writes config and rules into `<runDir>/prometheus/`, starts Prometheus, waits until ready. */
  static async start(options: PrometheusStartOptions): Promise<PrometheusServer> {
    const dir = join(options.runDir, "prometheus");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const launch: Launch = {
      runDir: options.runDir,
      dir,
      storagePath: join(dir, "data"),
      binary: options.binary ?? "prometheus",
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 9090,
      readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
      extraArgs: [],
      secretFiles: [],
    };
    const alerts = options.alerts ?? [];
    const config: PrometheusConfigInput = { ...options.config, rulesFile: join(dir, "rules.yml") };
    const auth = options.config.website?.basicAuth;
    if (auth && "password" in auth) {
      const passwordFile = join(dir, "website.password");
      await writeFile(passwordFile, auth.password, { mode: 0o600 });
      launch.secretFiles.push(passwordFile);
      config.website = { ...options.config.website!, basicAuth: { username: auth.username, passwordFile } };
    }
    // Render before launching so a bad source or alert fails fast with its own message.
    await writeAtomically(join(dir, "rules.yml"), renderRulesFile(alerts));
    await writeAtomically(join(dir, "prometheus.yml"), renderPrometheusConfig(config));
    return PrometheusServer.#launch(launch, config, alerts);
  }

  /**
   * Serves a saved snapshot again: a working copy of it becomes the TSDB of a new Prometheus
   * that scrapes nothing, so its queries show exactly what the run recorded.
   */
  static async importSnapshot(options: ImportSnapshotOptions): Promise<PrometheusServer> {
    const meta = await stat(options.snapshotDir).catch(() => undefined);
    if (!meta?.isDirectory()) throw new PrometheusError(`importSnapshot: snapshotDir ${options.snapshotDir} is not a directory`);
    const dir = join(options.workDir, "prometheus-import");
    const storagePath = join(dir, "data");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await cp(options.snapshotDir, storagePath, { recursive: true, errorOnExist: true, force: false });
    const config: PrometheusConfigInput = {};
    await writeAtomically(join(dir, "prometheus.yml"), renderPrometheusConfig(config));
    const launch: Launch = {
      runDir: options.workDir,
      dir,
      storagePath,
      binary: options.binary ?? "prometheus",
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 9090,
      readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
      // Retention counts back from the newest block, but make sure nothing recorded is dropped.
      extraArgs: ["--storage.tsdb.retention.time=100y"],
      secretFiles: [],
    };
    return PrometheusServer.#launch(launch, config, []);
  }

  static async #launch(launch: Launch, config: PrometheusConfigInput, alerts: AlertRule[]): Promise<PrometheusServer> {
    const args = [
      `--config.file=${join(launch.dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${launch.storagePath}`,
      `--web.listen-address=${address(launch.host, launch.port)}`,
      ...launch.extraArgs,
    ];
    // Resolved first: the tie's shell would turn a missing binary into a vague early exit.
    const binary = findExecutable(launch.binary, process.env);
    if (!binary) throw new PrometheusError(`prometheus binary "${launch.binary}" not found: apt-get install prometheus, or pass its path as binary`);
    const process_ = spawnTied(binary, args);
    const tail = new Ring<string>(30);
    const log = createWriteStream(join(launch.dir, "prometheus.log"), { flags: "a", mode: 0o600 });
    const listeners = new Set<(line: string) => void>();
    const lines = new LineSplitter((line) => {
      tail.push(line);
      for (const listener of listeners) listener(line);
    });
    process_.child.stderr!.on("data", (chunk: Buffer) => {
      log.write(chunk);
      lines.push(chunk);
    });
    void process_.exited.finally(() => log.end());
    const server = new PrometheusServer(process_, { tail, listeners }, launch, config, alerts);
    void process_.exited.then(() => {
      if (server.#stopping) return;
      const { exitCode, signalCode } = process_.child;
      server.#unexpectedExit = `prometheus (pid ${process_.child.pid}) exited during the run (${signalCode ?? `code ${exitCode}`}):\n${tail.toArray().slice(-5).join("\n")}`;
    });
    try {
      await server.#waitReady(launch.readyTimeoutMs);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  async #waitReady(timeoutMs: number): Promise<void> {
    let exited = false;
    void this.#process.exited.then(() => (exited = true));
    const outcome = await waitForHttp(`${this.url}/-/ready`, timeoutMs, () => exited);
    if (outcome === "ended") throw new PrometheusError(`prometheus exited before it was ready:\n${this.#stderrTail.toArray().join("\n")}`);
    if (outcome === "timeout") {
      throw new PrometheusError(`prometheus at ${this.url} was not ready within ${timeoutMs} ms:\n${this.#stderrTail.toArray().join("\n")}`);
    }
  }

  /** Adds a scrape job and hot-reloads; Prometheus keeps running and keeps its data. */
  async addSource(source: PrometheusSource): Promise<void> {
    const config = { ...this.#config, sources: [...(this.#config.sources ?? []), source] };
    await this.#apply(this.configPath, renderPrometheusConfig(config), renderPrometheusConfig(this.#config));
    this.#config = config;
  }

  /** Adds an alert rule (replacing one of the same name) and hot-reloads. */
  async addAlert(rule: AlertRule): Promise<void> {
    const alerts = [...this.#alerts.filter((a) => a.name !== rule.name), rule];
    await this.#apply(this.rulesPath, renderRulesFile(alerts), renderRulesFile(this.#alerts));
    this.#alerts = alerts;
  }

  /**
   * Writes a file and reloads. When Prometheus rejects it (say, a PromQL error in an alert),
   * the previous file is put back so later reloads are not poisoned by it.
   */
  async #apply(path: string, text: string, previous: string): Promise<void> {
    await writeAtomically(path, text);
    try {
      await this.reload();
    } catch (error) {
      await writeAtomically(path, previous);
      await this.reload();
      throw error;
    }
  }

  /**
   * Reloads config and rules with SIGHUP and waits for Prometheus to log the outcome; when
   * it rejects them (say, a PromQL error in an alert), the error lines it logged are thrown.
   */
  async reload(): Promise<void> {
    const errors: string[] = [];
    const outcome = new Promise<"done" | "failed" | "timeout">((resolve) => {
      const listener = (line: string) => {
        if (LOG_ERROR.test(line)) errors.push(line);
        if (RELOAD_DONE.test(line)) finish(RELOAD_FAILED.test(line) ? "failed" : "done");
      };
      const timer = setTimeout(() => finish("timeout"), RELOAD_TIMEOUT_MS);
      const finish = (result: "done" | "failed" | "timeout") => {
        clearTimeout(timer);
        this.#logListeners.delete(listener);
        resolve(result);
      };
      this.#logListeners.add(listener);
    });
    if (!this.#process.hangUp()) throw new PrometheusError(`prometheus reload failed: the process has ended${this.#unexpectedExit ? `: ${this.#unexpectedExit}` : ""}`);
    const result = await outcome;
    if (result === "timeout") throw new PrometheusError(`prometheus reload failed: no outcome logged within ${RELOAD_TIMEOUT_MS} ms of SIGHUP`);
    if (result === "failed") throw new PrometheusError(`prometheus reload failed:\n${errors.join("\n")}`);
  }

  /** An instant query; `time` defaults to now. */
  query(expr: string, time?: Date): Promise<QueryResult[]> {
    return queryPrometheus(this.url, expr, time);
  }

  /**
   * Stops Prometheus (its TSDB is consistent on disk once closed: blocks, and a WAL that a
   * new Prometheus replays) and copies the TSDB to `dest`, by default
   * `<runDir>/prometheus-snapshot`. Returns `dest`.
   */
  async snapshot(dest: string = join(this.#runDir, "prometheus-snapshot")): Promise<string> {
    if (await stat(dest).catch(() => undefined)) throw new PrometheusError(`snapshot destination ${dest} already exists: remove it or pick another path`);
    const died = this.#unexpectedExit;
    await this.stop();
    await cp(this.storagePath, dest, { recursive: true, filter: (source) => basename(source) !== "lock" });
    if (died) throw new PrometheusError(`${died}\nits data up to then was saved in ${dest}`);
    return dest;
  }

  /** TERM, then KILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    await this.#process.stop(graceMs);
    await Promise.all(this.#secretFiles.map((file) => rm(file, { force: true })));
  }
}
