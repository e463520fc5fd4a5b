import type { Inventory } from "../core/inventory.ts";
import type { Progress } from "../core/progress.ts";
import type { CloudObserver } from "../runtime/cloud.ts";
import type { LogSink } from "../runtime/daemon.ts";
import type Docker from "dockerode";
import { AlertWatcher, type AlertRule } from "./alerts.ts";
import { startGrafana, type Grafana, type GrafanaOptions } from "./grafana.ts";
import { MetricStore, type PushOptions } from "./metrics.ts";
import { PrometheusServer, resolveSource, type NodeExporterTarget, type PrometheusSource, type PrometheusSourceSpec, type WebsiteTarget } from "./prometheus.ts";
import { RunDir } from "./run-dir.ts";
import { RunState, type RunResult } from "./run-state.ts";
import { startWebsite, type Website, type WebsiteOptions } from "./website.ts";
import { RunHistory } from "./run-history.ts";

export type WebsiteSettings = Pick<WebsiteOptions, "host" | "port" | "auth" | "tls" | "allowUnauthenticatedRemote"> & {
  /**
   * Set when the runner is a detached run's orchestrator: its own address (0.0.0.0:8080 in a
   * container) is not the user's, who opens the website with `fieldtest website`, or at the
   * address the host publishes it on, when known.
   */
  reachedBy?: { published?: string };
};

export interface PrometheusSettings {
  host?: string;
  port: number;
  /** How often Prometheus scrapes the website, node exporters and sources, e.g. "5s". */
  scrapeInterval: string;
  /** Receives a POST when an alert starts firing. */
  alertWebhook?: string;
  binary?: string;
}

export interface ObservationOptions {
  inventory: Inventory;
  scenario: string;
  /** Runs are kept in `<runsDir>/<namespace>/<run-id>/`. */
  runsDir: string;
  /** Written as config.json: what the run was asked to do. */
  config: unknown;
  /** The private key the website's debug commands name. */
  clientKeyPath: string;
  website?: WebsiteSettings;
  progress: Progress;
  /** A run id chosen beforehand (a detached run's parent names the directory it will watch). */
  runId?: string;
  /** Per daemon log file, rotation included (`--log-cap`). */
  logCapBytes?: number;
  /** The register checker's time limit at the end of the run. */
  checkTimeLimitMs?: number;
  /** An alert added with `dump: true` started firing. */
  onDumpAlert?: (alert: string) => void;
}

/**
 * Everything one run records and shows: its run directory, state, metrics, and optionally
 * the website and a Prometheus. The scenario reaches it through `cloud.pushMetric` and
 * friends (it is the Cloud's observer); the CLI starts it after provisioning and finishes
 * it after the scenario, whatever the outcome.
 */
export class Observation implements CloudObserver {
  readonly runDir: RunDir;
  readonly state: RunState;
  readonly metrics = new MetricStore();
  #website: Website | undefined;
  #prometheus: PrometheusServer | undefined;
  #watcher: AlertWatcher | undefined;
  #grafana: Grafana | undefined;
  readonly #sources: PrometheusSource[] = [];
  readonly #stopLogFiles: () => void;
  readonly #progress: Progress;
  #websiteAuth: WebsiteSettings["auth"];
  /** history.jsonl: phases, daemons, alerts, faults and the scenario's operations. */
  readonly history: RunHistory;
  readonly #dumpAlerts = new Set<string>();
  readonly #options: ObservationOptions;

  private constructor(runDir: RunDir, state: RunState, stopLogFiles: () => void, progress: Progress, options: ObservationOptions) {
    this.#options = options;
    this.history = RunHistory.create(runDir.path, state);
    this.runDir = runDir;
    this.state = state;
    this.#stopLogFiles = stopLogFiles;
    this.#progress = progress;
  }

  static async start(options: ObservationOptions): Promise<Observation> {
    const { inventory } = options;
    const runDir = await RunDir.create({
      baseDir: options.runsDir,
      namespace: inventory.namespace,
      ...(options.runId ? { runId: options.runId, existingOk: true } : {}),
      ...(options.logCapBytes ? { logCapBytes: options.logCapBytes } : {}),
    });
    await runDir.writeConfig(options.config);
    await runDir.writeInventory(inventory);
    const state = new RunState({ inventory, scenario: options.scenario, runId: runDir.runId, clientKeyPath: options.clientKeyPath, knownHostsPath: runDir.knownHostsPath });
    const observation = new Observation(runDir, state, runDir.recordLogs(state), options.progress, options);
    if (options.website) {
      try {
        const history = observation.history;
        observation.#website = await startWebsite({
          state,
          metrics: observation.metrics,
          ...options.website,
          history: { path: history.path, checks: () => history.checks },
          onError: (error) => options.progress.step(`website stopped: ${error.message} (the run goes on without it)`),
        });
      } catch (error) {
        await observation.finish({ status: "failed", error: (error as Error).message });
        throw error;
      }
      observation.#websiteAuth = options.website.auth;
      const { reachedBy } = options.website;
      if (reachedBy) {
        const published = reachedBy.published ? `${reachedBy.published}, or ` : "";
        options.progress.step(`website: ${published}\`fieldtest website --namespace ${inventory.namespace}\` on your machine (the runner serves it on ${observation.#website.url} where it runs)`);
      } else {
        options.progress.step(`website ${observation.#website.url}  (metrics: ${observation.#website.url}/metrics)`);
      }
    }
    return observation;
  }

  get website(): Website | undefined {
    return this.#website;
  }

  get prometheus(): PrometheusServer | undefined {
    return this.#prometheus;
  }

  /** Every line also goes to the run's state: the website's log panes and the run directory. */
  logSink(next: LogSink): LogSink {
    return (line) => {
      this.state.appendLog(line.agent, line.daemon, line.line);
      next(line);
    };
  }

  /**
   * Starts Prometheus scraping the website, the agents' node exporters and every source
   * added so far, with the alerts added so far; later ones are hot-reloaded.
   */
  async startPrometheus(settings: PrometheusSettings, nodeExporters: NodeExporterTarget[]): Promise<void> {
    const website = this.#website;
    const prometheus = await PrometheusServer.start({
      runDir: this.runDir.path,
      config: {
        scrapeInterval: settings.scrapeInterval,
        ...(website ? { website: websiteTarget(website.url, this.#websiteAuth) } : {}),
        nodeExporters,
        sources: this.#sources,
        externalLabels: { namespace: this.runDir.namespace, run: this.runDir.runId },
      },
      alerts: this.state.alertRules,
      host: settings.host ?? "127.0.0.1",
      port: settings.port,
      ...(settings.binary ? { binary: settings.binary } : {}),
      // One password opens both: Prometheus re-serves what the website's password protects.
      ...(this.#websiteAuth ? { auth: this.#websiteAuth } : {}),
    });
    this.#prometheus = prometheus;
    void prometheus.exited.then(() => {
      if (prometheus.unexpectedExit) this.#progress.step(`${prometheus.unexpectedExit}\nthe run will be recorded as failed`);
    });
    this.state.addService(`Prometheus (user ${prometheus.auth.username}, password ${prometheus.passwordHint})`, prometheus.url);
    this.#watcher = new AlertWatcher({
      prometheusUrl: prometheus.url,
      auth: prometheus.auth,
      state: this.state,
      ...(settings.alertWebhook ? { webhookUrl: settings.alertWebhook } : {}),
      onError: (error) => this.#progress.step(`alerts: ${error.message}`),
    });
    this.#watcher.start();
    this.#progress.step(`prometheus ${prometheus.url}  (user ${prometheus.auth.username}, password ${prometheus.passwordHint}; ${nodeExporters.length} node exporter(s), scrape every ${settings.scrapeInterval})`);
  }

  /** Grafana over the run's Prometheus (start that first); a link on the website. */
  async startGrafana(docker: Docker, options: Omit<GrafanaOptions, "prometheusUrl" | "prometheusAuth">): Promise<void> {
    if (!this.#prometheus) throw new Error("Grafana shows the run's Prometheus: start Prometheus first");
    this.#grafana = await startGrafana(docker, { ...options, prometheusUrl: this.#prometheus.url, prometheusAuth: this.#prometheus.auth });
    this.state.addService("Grafana", this.#grafana.url);
    this.#progress.step(`grafana ${this.#grafana.url}  (image ${options.image})`);
  }

  /**
   * Throws when a service the run depends on has died (Prometheus, killed or stopped through
   * its API): a run whose measurements stopped must not pass.
   */
  assertHealthy(): void {
    const died = this.#prometheus?.unexpectedExit;
    if (died) throw new Error(died);
  }

  setPhase(phase: string): void {
    this.state.setPhase(phase);
  }

  pushMetric(name: string, value: number, options?: PushOptions): void {
    this.metrics.push(name, value, options);
  }

  async addPrometheusSource(spec: PrometheusSourceSpec): Promise<void> {
    const source = resolveSource(this.state.inventory, spec);
    if (this.#sources.some((s) => s.name === source.name)) {
      throw new Error(`addPrometheusSource: a source named "${source.name}" was already added; source names must be unique`);
    }
    await this.#prometheus?.addSource(source);
    this.#sources.push(source);
  }

  addService(name: string, url: string): void {
    this.state.addService(name, url);
  }

  async addAlert(rule: AlertRule & { dump?: boolean }): Promise<void> {
    // Validates first, so a bad rule fails the same way with or without Prometheus.
    const { dump, ...prometheusRule } = rule;
    this.state.addAlert(prometheusRule);
    if (dump) this.#watchDumpAlert(prometheusRule.name);
    await this.#prometheus?.addAlert(prometheusRule);
  }

  /** Each time the alert starts firing, the run takes a dump. */
  #watchDumpAlert(name: string): void {
    if (this.#dumpAlerts.has(name)) return;
    this.#dumpAlerts.add(name);
    let firing = false;
    this.state.subscribe((event) => {
      if (event.type !== "alerts") return;
      const now = this.state.activeAlerts.some((a) => a.name === name && a.state === "firing");
      if (now && !firing) this.#options.onDumpAlert?.(name);
      firing = now;
    });
  }

  /**
   * Records the outcome (result.json, metrics.prom, the Prometheus snapshot) and stops
   * what was started. Each step runs even when an earlier one failed; the first error is thrown.
   * A "passed" outcome is recorded as failed when Prometheus died during the run.
   */
  async finish(outcome: RunResult): Promise<void> {
    const died = this.#prometheus?.unexpectedExit;
    const result: RunResult = outcome.status === "passed" && died ? { status: "failed", error: died } : outcome;
    if (result.status === "passed") this.state.pass();
    else if (result.status === "failed") this.state.fail(new Error(result.error ?? "failed"));
    const errors: unknown[] = [];
    const step = async (work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (error) {
        errors.push(error);
      }
    };
    const checks = await this.history.finish(result, this.#options.checkTimeLimitMs, this.metrics.history()).catch((error: Error) => {
      errors.push(error);
      return undefined;
    });
    // A history the checkers find invalid fails the run, as in Jepsen.
    const recorded = checks?.valid === false && result.status === "passed" ? { status: "failed" as const, error: "the history is not valid: see checks" } : result;
    if (recorded !== result) this.state.fail(new Error(recorded.error));
    await step(() => this.runDir.writeResult({ ...recorded, phase: this.state.phase, ...(checks?.checkers.length ? { checks } : {}), logs: this.runDir.logCaps() }));
    await step(async () => this.runDir.writeMetrics(await this.metrics.render()));
    await step(async () => this.#watcher?.stop());
    await step(async () => this.#grafana?.stop());
    const prometheus = this.#prometheus;
    if (prometheus) {
      await step(async () => this.#progress.step(`prometheus snapshot saved in ${await prometheus.snapshot()}`));
      await step(() => prometheus.stop());
    }
    this.#stopLogFiles();
    await step(() => this.runDir.close());
    // The website's pages then show the final state, fetch the last history and checks, and let go.
    this.state.end();
    await step(async () => this.#website?.close());
    if (errors.length) throw errors[0];
  }
}

/** Prometheus scrapes the website with the same scheme and credentials a browser would use. */
function websiteTarget(url: string, auth: WebsiteSettings["auth"]): WebsiteTarget {
  const parsed = new URL(url);
  const https = parsed.protocol === "https:";
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(parsed.port),
    scheme: https ? "https" : "http",
    // The website's certificate is the user's own, often self-signed; Prometheus runs beside it.
    ...(https ? { insecureSkipVerify: true } : {}),
    ...(auth ? { basicAuth: auth } : {}),
  };
}
