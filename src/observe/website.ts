import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import Fastify from "fastify";
import fastifyBasicAuth from "@fastify/basic-auth";
import type { MetricStore } from "./metrics.ts";
import type { LogLine, RunState } from "./run-state.ts";
import { registerHistoryRoutes } from "../runtime/history/routes.ts";

export interface WebsiteOptions {
  state: RunState;
  metrics: MetricStore;
  /** Default 127.0.0.1. Any other address needs `auth` or `allowUnauthenticatedRemote`. */
  host?: string;
  /** Default 8080; 0 picks a free port (tests). */
  port?: number;
  /** HTTP basic auth on every route, /metrics included (give Prometheus the same credentials). */
  auth?: { username: string; password: string };
  /** Serve HTTPS with these PEM files. */
  tls?: { certPath: string; keyPath: string };
  /** Bind a non-loopback host without auth anyway (a trusted, isolated network). */
  allowUnauthenticatedRemote?: boolean;
  /** How often live updates are batched to browsers (default 250 ms). */
  pushIntervalMs?: number;
  /**
   * Extra names a browser may use in the Host header (say, the machine's DNS name). The bound
   * address, `localhost` and loopback addresses are always accepted; anything else is refused,
   * so a DNS-rebinding page cannot read the run.
   */
  allowedHosts?: string[];
  /** Live-update stream limits per browser (defaults: EVENT_STREAM_LIMITS). */
  eventStreamLimits?: Partial<EventStreamLimits>;
  /** The run's history.jsonl, served at /api/history, and the checkers' results at /api/checks. */
  history?: { path: string; checks(): unknown };
  /** At close, once the run has ended, how long open pages may take to fetch the final state (default 3 s). */
  endedLingerMs?: number;
}

/** What one /api/events client may cost the runner before it is cut off. */
export interface EventStreamLimits {
  /** Log lines held for a client between pushes; beyond, the oldest are dropped and a fresh `logs-all` follows. */
  pendingLines: number;
  /** Lines a `logs-all` carries at most, shared evenly by the streams (each keeps its newest). */
  resyncLines: number;
  /** Bytes queued in the client's socket beyond which it is dropped. */
  bufferedBytes: number;
  /** A client that has not read what was written this long is dropped. */
  stalledMs: number;
}

export const EVENT_STREAM_LIMITS: EventStreamLimits = { pendingLines: 1000, resyncLines: 5000, bufferedBytes: 4 * 1024 * 1024, stalledMs: 30_000 };

export interface Website {
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  /** Live-update clients dropped for not keeping up, since start. */
  readonly droppedEventClients: number;
  close(): Promise<void>;
}

export class WebsiteError extends Error {}

export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const require = createRequire(import.meta.url);

/** The page's files, read once at start: the page itself and uPlot from node_modules (no CDN). */
async function loadAssets(): Promise<Map<string, { body: string; type: string }>> {
  const web = (name: string) => new URL(`./web/${name}`, import.meta.url);
  const files: [string, URL | string, string][] = [
    ["/", web("index.html"), "text/html; charset=utf-8"],
    ["/static/app.js", web("app.js"), "text/javascript; charset=utf-8"],
    ["/static/style.css", web("style.css"), "text/css; charset=utf-8"],
    ["/static/uPlot.iife.min.js", require.resolve("uplot/dist/uPlot.iife.min.js"), "text/javascript; charset=utf-8"],
    ["/static/uPlot.min.css", require.resolve("uplot/dist/uPlot.min.css"), "text/css; charset=utf-8"],
  ];
  const assets = new Map<string, { body: string; type: string }>();
  for (const [route, file, type] of files) assets.set(route, { body: await readFile(file, "utf8"), type });
  return assets;
}

/** Compares digests so neither the content nor the length of a secret leaks through timing. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

async function readTls(tls: NonNullable<WebsiteOptions["tls"]>): Promise<{ cert: Buffer; key: Buffer }> {
  const read = (field: string, path: string) =>
    readFile(path).catch((error: Error) => {
      throw new WebsiteError(`website tls.${field} ${path} cannot be read: ${error.message}`);
    });
  return { cert: await read("certPath", tls.certPath), key: await read("keyPath", tls.keyPath) };
}

/** The host part of a Host header: `[::1]:8080` → `::1`, `Example.org:80` → `example.org`. */
export function hostHeaderName(header: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d+)?$/.exec(header);
  if (bracketed) return bracketed[1]!.toLowerCase();
  return header.replace(/:\d+$/, "").toLowerCase();
}

/** The bound address, this machine's name, and, bound to every interface, each interface's address. */
function acceptedHostNames(host: string, extra: readonly string[]): Set<string> {
  const names = [host, "localhost", hostname(), ...extra];
  if (host === "0.0.0.0" || host === "::") {
    for (const addresses of Object.values(networkInterfaces())) names.push(...(addresses ?? []).map((a) => a.address));
  }
  return new Set(names.map((name) => name.toLowerCase()));
}

function checkOptions(options: WebsiteOptions, host: string): void {
  if (!isLoopbackHost(host) && !options.auth && !options.allowUnauthenticatedRemote) {
    throw new WebsiteError(
      `website host ${host} is reachable from other machines and anyone there could see the run: set auth (and tls), or allowUnauthenticatedRemote if the network is trusted`,
    );
  }
  if (options.auth && (!options.auth.username || !options.auth.password)) {
    throw new WebsiteError("website auth.username and auth.password must both be non-empty");
  }
}

/**
 * The run's website: the page, /metrics for Prometheus, JSON APIs and Server-Sent Events.
 * Reads RunState and MetricStore; never changes them.
 */
export async function startWebsite(options: WebsiteOptions): Promise<Website> {
  const host = options.host ?? "127.0.0.1";
  checkOptions(options, host);
  const assets = await loadAssets();
  const app = Fastify({
    logger: false,
    // Live-update streams never end by themselves: close must not wait for them.
    forceCloseConnections: true,
    ...(options.tls ? { https: await readTls(options.tls) } : {}),
  });

  // DNS rebinding: a page of another site that resolves its name to this address sends its own Host.
  const allowedHosts = acceptedHostNames(host, options.allowedHosts ?? []);
  app.addHook("onRequest", async (request, reply) => {
    const name = hostHeaderName(request.headers.host ?? "");
    if (allowedHosts.has(name) || isLoopbackHost(name)) return;
    await reply.code(421).type("text/plain").send(`Host ${JSON.stringify(request.headers.host ?? "")} is not this website's address; use ${host}`);
  });

  if (options.auth) {
    const { username, password } = options.auth;
    await app.register(fastifyBasicAuth, {
      authenticate: { realm: "fieldtest" },
      validate: async (user, pass) => {
        // Both compared before combining (no short-circuit), so a wrong user takes as long as a wrong password.
        const userOk = sameSecret(user, username);
        const passwordOk = sameSecret(pass, password);
        if (!(userOk && passwordOk)) throw new Error("wrong username or password");
      },
    });
    app.addHook("onRequest", app.basicAuth);
  }

  for (const [route, asset] of assets) {
    app.get(route, (_request, reply) => reply.type(asset.type).header("cache-control", "no-cache").send(asset.body));
  }

  app.get("/metrics", async (_request, reply) => reply.type(options.metrics.contentType).send(await options.metrics.render()));

  app.get("/api/state", async () => options.state.snapshot());

  app.get<{ Querystring: { name?: string; limit?: string } }>("/api/metrics/series", async (request, reply) => {
    const limit = request.query.limit === undefined ? undefined : Number(request.query.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      return reply.code(400).send({ error: "limit must be a positive integer (series per metric)" });
    }
    const filter = { ...(request.query.name === undefined ? {} : { name: request.query.name }), ...(limit === undefined ? {} : { limitPerMetric: limit }) };
    return { version: options.metrics.version, series: options.metrics.history(filter) };
  });

  app.get<{ Querystring: { agent?: string; daemon?: string } }>("/api/logs", async (request) => {
    const { agent, daemon } = request.query;
    return { lines: options.state.logs({ ...(agent === undefined ? {} : { agent }), ...(daemon === undefined ? {} : { daemon }) }) };
  });

  registerHistoryRoutes(app, options.history);

  const limits = { ...EVENT_STREAM_LIMITS, ...options.eventStreamLimits };
  let dropped = 0;
  const streams = new Set<ServerResponse>();
  app.get("/api/events", (request, reply) => {
    reply.hijack();
    streams.add(reply.raw);
    reply.raw.once("close", () => streams.delete(reply.raw));
    streamEvents(reply.raw, options, limits, () => request.raw.destroyed, () => dropped++);
  });

  await app.listen({ host, port: options.port ?? 8080 });
  const { port } = app.server.address() as AddressInfo;
  const scheme = options.tls ? "https" : "http";
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `${scheme}://${urlHost}:${port}`,
    port,
    get droppedEventClients() {
      return dropped;
    },
    close: async () => {
      if (options.state.ended) await pagesDone(streams, options.endedLingerMs ?? ENDED_LINGER_MS);
      await app.close();
    },
  };
}

/** How long an ended run's website waits for its open pages to fetch the final history and checks. */
const ENDED_LINGER_MS = 3000;

/**
 * Resolves once every open page has closed its live stream, which a page does after it has
 * fetched an ended run's last history and checks, or after `lingerMs`: the runner's exit waits
 * at most that long for its viewers.
 */
async function pagesDone(streams: ReadonlySet<ServerResponse>, lingerMs: number): Promise<void> {
  const deadline = Date.now() + lingerMs;
  while (streams.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

/**
 * One browser's live stream. State changes and log lines are batched every pushIntervalMs, so
 * a chatty daemon or 100,000 pushes per second cost the browser a few messages per second.
 * A browser that does not read is not written to until its socket drains; meanwhile at most
 * `pendingLines` lines are held for it (then a fresh `logs-all` replaces the lost ones), and
 * one that stays stalled or buffers too much is disconnected: it cannot grow the runner.
 */
function streamEvents(raw: ServerResponse, options: WebsiteOptions, limits: EventStreamLimits, gone: () => boolean, onDrop: () => void): void {
  const { state, metrics } = options;
  raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
  const send = (event: string, data: unknown) => raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  send("state", state.snapshot());
  send("logs-all", state.recentLogs(limits.resyncLines));
  send("metrics", { version: metrics.version });

  let stateChanged = false;
  let lines: LogLine[] = [];
  let linesLost = false;
  let version = metrics.version;
  let ticks = 0;
  let stalledSince: number | undefined;
  const unsubscribe = state.subscribe((event) => {
    if (event.type !== "log") stateChanged = true;
    else if (lines.length < limits.pendingLines) lines.push(event.log);
    else linesLost = true;
  });
  const interval = options.pushIntervalMs ?? 250;
  const timer = setInterval(() => {
    if (raw.writableNeedDrain) {
      stalledSince ??= Date.now();
      if (Date.now() - stalledSince > limits.stalledMs || raw.writableLength > limits.bufferedBytes) {
        onDrop();
        raw.destroy();
      }
      return;
    }
    stalledSince = undefined;
    if (stateChanged) {
      stateChanged = false;
      send("state", state.snapshot());
    }
    if (linesLost) {
      // The rings hold the newest lines of every stream: the browser starts over from them.
      send("logs-all", state.recentLogs(limits.resyncLines));
      linesLost = false;
    } else if (lines.length > 0) {
      send("logs", lines);
    }
    lines = [];
    if (metrics.version !== version) {
      version = metrics.version;
      send("metrics", { version });
    }
    // A comment line every ~15 s keeps idle proxies from closing the stream.
    if (++ticks % Math.max(1, Math.round(15_000 / interval)) === 0) raw.write(": keep-alive\n\n");
  }, interval);
  const stop = () => {
    clearInterval(timer);
    unsubscribe();
  };
  raw.on("close", stop);
  if (gone()) stop();
}
