import { access, constants } from "node:fs/promises";
import { resolve } from "node:path";
import { findExecutable } from "../core/executables.ts";
import { portIsFree } from "../targets/docker-engine/ports.ts";
import { isPrometheusDuration, redactUrl } from "../observe/alerts.ts";
import type Docker from "dockerode";
import { assertDockerAvailable } from "../targets/docker-engine/docker.ts";
import { DEFAULT_GRAFANA_IMAGE, ensureGrafanaImage } from "../observe/grafana.ts";
import type { PrometheusSettings, WebsiteSettings } from "../observe/observation.ts";
import { isLoopbackHost } from "../observe/host-names.ts";
import { UsageError } from "./context.ts";
import { flagOf, portOption } from "./options.ts";

export interface ObserveFlags {
  runsDir?: string;
  website?: boolean;
  websiteHost?: string;
  websitePort?: string;
  websiteUser?: string;
  websiteTlsCert?: string;
  websiteTlsKey?: string;
  insecureHttp?: boolean;
  prometheus?: boolean;
  prometheusPort?: string;
  scrapeInterval?: string;
  monitoring?: boolean;
  alertWebhook?: boolean;
  grafana?: boolean;
  grafanaPort?: string;
  grafanaImage?: string;
}

/** What a run records and serves; every run has a run directory, the rest is opt-in. */
export interface ObserveRequest {
  runsDir: string;
  website?: WebsiteSettings;
  prometheus?: PrometheusSettings;
  /** A node exporter in every agent, scraped by the run's Prometheus. */
  monitoring: boolean;
  /** A Grafana container showing the run's Prometheus. */
  grafana?: { image: string; port: number };
}

export const WEBSITE_PASSWORD_VARIABLE = "FIELDTEST_WEBSITE_PASSWORD";
/** The alert webhook's URL often holds a token: read from the environment, never from argv (`ps`). */
export const ALERT_WEBHOOK_VARIABLE = "FIELDTEST_ALERT_WEBHOOK";

function portFlag(flag: string, value: string | undefined, fallback: number): number {
  return value === undefined ? fallback : portOption(flag, value, 0);
}

function websiteSettings(flags: ObserveFlags, env: NodeJS.ProcessEnv): WebsiteSettings {
  const host = flags.websiteHost ?? "127.0.0.1";
  const settings: WebsiteSettings = { host, port: portFlag("--website-port", flags.websitePort, 8080) };
  if (flags.websiteUser !== undefined) {
    const password = env[WEBSITE_PASSWORD_VARIABLE];
    if (!flags.websiteUser || !password) {
      throw new UsageError(`--website-user needs a non-empty user name and the password in ${WEBSITE_PASSWORD_VARIABLE} (kept off the command line)`);
    }
    settings.auth = { username: flags.websiteUser, password };
  }
  if (!isLoopbackHost(host) && !settings.auth) {
    throw new UsageError(`--website-host ${host} is reachable from other machines: add --website-user (and --website-tls-cert/--website-tls-key) so strangers cannot read the run`);
  }
  if ((flags.websiteTlsCert === undefined) !== (flags.websiteTlsKey === undefined)) {
    throw new UsageError("--website-tls-cert and --website-tls-key go together: give both PEM files");
  }
  if (flags.websiteTlsCert !== undefined && flags.websiteTlsKey !== undefined) {
    settings.tls = { certPath: flags.websiteTlsCert, keyPath: flags.websiteTlsKey };
  }
  // Basic auth over plain HTTP sends the password readable to anyone on the path.
  if (!isLoopbackHost(host) && !settings.tls && !flags.insecureHttp) {
    throw new UsageError(
      `--website-host ${host} without --website-tls-cert/--website-tls-key would send the password and the run in clear text: add TLS, or --insecure-http on a network you trust`,
    );
  }
  if (flags.insecureHttp && isLoopbackHost(host)) throw new UsageError("--insecure-http only applies with a --website-host other than loopback");
  return settings;
}

function alertWebhookUrl(env: NodeJS.ProcessEnv): string {
  const url = env[ALERT_WEBHOOK_VARIABLE];
  if (!url) throw new UsageError(`--alert-webhook reads the URL from ${ALERT_WEBHOOK_VARIABLE} (kept off the command line, where ps shows it): set it`);
  if (!/^https?:\/\//.test(url)) throw new UsageError(`${ALERT_WEBHOOK_VARIABLE} must be an http:// or https:// URL, got ${JSON.stringify(redactUrl(url))}`);
  return url;
}

/** Reads the observability flags; throws UsageError naming the flag. */
export function observeRequest(flags: ObserveFlags, env: NodeJS.ProcessEnv, cwd: string): ObserveRequest {
  const runsDir = resolve(cwd, flags.runsDir ?? (env.FIELDTEST_RUNS_DIR || "runs"));
  const websiteOnly = ["websiteHost", "websitePort", "websiteUser", "websiteTlsCert", "websiteTlsKey", "insecureHttp"] as const;
  const wantsWebsite = Boolean(flags.website || flags.prometheus);
  const stray = websiteOnly.find((key) => flags[key] !== undefined);
  if (stray && !wantsWebsite) throw new UsageError(`${flagOf(stray)} only applies with --website (or --prometheus, which serves /metrics through it)`);
  const prometheusOnly = ["prometheusPort", "scrapeInterval", "alertWebhook", "monitoring", "grafana", "grafanaPort", "grafanaImage"] as const;
  const strayPrometheus = prometheusOnly.find((key) => flags[key] !== undefined);
  if (strayPrometheus && !flags.prometheus) throw new UsageError(`${flagOf(strayPrometheus)} only applies with --prometheus`);
  const request: ObserveRequest = { runsDir, monitoring: Boolean(flags.monitoring) };
  if (wantsWebsite) request.website = websiteSettings(flags, env);
  if (flags.prometheus) {
    const scrapeInterval = flags.scrapeInterval ?? "5s";
    if (!isPrometheusDuration(scrapeInterval)) throw new UsageError(`--scrape-interval "${scrapeInterval}" must be a Prometheus duration such as 1s, 5s or 1m`);
    const alertWebhook = flags.alertWebhook ? alertWebhookUrl(env) : undefined;
    request.prometheus = {
      port: portFlag("--prometheus-port", flags.prometheusPort, 9090),
      scrapeInterval,
      ...(alertWebhook ? { alertWebhook } : {}),
    };
  }
  const strayGrafana = (["grafanaPort", "grafanaImage"] as const).find((key) => flags[key] !== undefined);
  if (strayGrafana && !flags.grafana) throw new UsageError(`${flagOf(strayGrafana)} only applies with --grafana`);
  if (flags.grafana) request.grafana = { image: flags.grafanaImage ?? DEFAULT_GRAFANA_IMAGE, port: portFlag("--grafana-port", flags.grafanaPort, 3000) };
  return request;
}

/** The Prometheus server on PATH, looked for before anything is made; `what` needs it. */
export function requirePrometheusBinary(env: NodeJS.ProcessEnv, what: string): string {
  const binary = findExecutable("prometheus", env);
  if (!binary) throw new Error(`${what} needs the prometheus server binary on PATH: apt-get install prometheus (Debian), or see prometheus.io/download; nothing was created`);
  return binary;
}

/**
 * What would make the run fail after its agents exist, checked before they are created:
 * busy ports, unreadable TLS files, no Prometheus binary, no Grafana image. Returns the
 * request with the Prometheus binary's path filled in.
 */
export async function preflightObserve(request: ObserveRequest, env: NodeJS.ProcessEnv, docker: () => Docker): Promise<ObserveRequest> {
  const { website, prometheus } = request;
  if (website?.port && !(await portIsFree(website.port, website.host))) {
    throw new UsageError(`--website-port ${website.port} is already in use on ${website.host}: pick another port (0 picks a free one)`);
  }
  for (const [flag, path] of [
    ["--website-tls-cert", website?.tls?.certPath],
    ["--website-tls-key", website?.tls?.keyPath],
  ] as const) {
    if (path !== undefined && !(await access(path, constants.R_OK).then(() => true, () => false))) {
      throw new UsageError(`${flag} ${path} cannot be read`);
    }
  }
  if (!prometheus) return request;
  if (prometheus.port === 0) throw new UsageError("--prometheus-port must name a port (Prometheus cannot pick a free one itself)");
  if (!(await portIsFree(prometheus.port))) throw new UsageError(`--prometheus-port ${prometheus.port} is already in use: pick another port`);
  const binary = requirePrometheusBinary(env, "--prometheus");
  const { grafana } = request;
  if (grafana) {
    if (grafana.port === 0) throw new UsageError("--grafana-port must name a port (Grafana cannot report one it picked)");
    if (!(await portIsFree(grafana.port))) throw new UsageError(`--grafana-port ${grafana.port} is already in use: pick another port`);
    await assertDockerAvailable(docker());
    await ensureGrafanaImage(docker(), grafana.image);
  }
  return { ...request, prometheus: { ...prometheus, binary } };
}
