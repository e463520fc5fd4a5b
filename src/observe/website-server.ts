import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import Fastify from "fastify";
import fastifyBasicAuth from "@fastify/basic-auth";
import type { LogLine } from "./log-rings.ts";
import type { Answers, EventStreamLimits, Question, WebsiteConfig } from "./website-protocol.ts";
import type { WebsiteView } from "./website-view.ts";
import { hostHeaderName, isLoopbackHost } from "./host-names.ts";
import { registerHistoryRoutes } from "../runtime/history/routes.ts";

/** What only the runner's thread can answer: the metrics and the checkers live there. */
export type AskRunner = <Q extends Question>(question: Q) => Promise<Answers[Q["what"]]>;

/** How the website reaches the runner's thread. */
export interface RunnerLink {
  ask: AskRunner;
  /** Applies the changes the runner has sent so far, before a request is answered. */
  catchUp(): void;
  /** Hears of each live-update client dropped for not keeping up. */
  onDrop(): void;
}

export interface ServedWebsite {
  port: number;
  close(): Promise<void>;
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

async function readTls(tls: NonNullable<WebsiteConfig["tls"]>): Promise<{ cert: Buffer; key: Buffer }> {
  const read = (field: string, path: string) =>
    readFile(path).catch((error: Error) => {
      throw new Error(`website tls.${field} ${path} cannot be read: ${error.message}`);
    });
  return { cert: await read("certPath", tls.certPath), key: await read("keyPath", tls.keyPath) };
}

/** The bound address, this machine's name, and, bound to every interface, each interface's address. */
function acceptedHostNames(host: string, extra: readonly string[]): Set<string> {
  const names = [host, "localhost", hostname(), ...extra];
  if (host === "0.0.0.0" || host === "::") {
    for (const addresses of Object.values(networkInterfaces())) names.push(...(addresses ?? []).map((a) => a.address));
  }
  return new Set(names.map((name) => name.toLowerCase()));
}

/**
 * The run's website: the page, /metrics for Prometheus, JSON APIs and Server-Sent Events,
 * answered from `view`; the metrics and checks are asked of the runner.
 */
export async function serveWebsite(config: WebsiteConfig, view: WebsiteView, runner: RunnerLink): Promise<ServedWebsite> {
  const { ask } = runner;
  const { host } = config;
  const assets = await loadAssets();
  const app = Fastify({
    logger: false,
    // Live-update streams never end by themselves: close must not wait for them.
    forceCloseConnections: true,
    ...(config.tls ? { https: await readTls(config.tls) } : {}),
  });

  // A change made before a request was sent is in its answer.
  app.addHook("onRequest", async () => runner.catchUp());

  // DNS rebinding: a page of another site that resolves its name to this address sends its own Host.
  const allowedHosts = acceptedHostNames(host, config.allowedHosts);
  app.addHook("onRequest", async (request, reply) => {
    const name = hostHeaderName(request.headers.host ?? "");
    if (allowedHosts.has(name) || isLoopbackHost(name)) return;
    await reply.code(421).type("text/plain").send(`Host ${JSON.stringify(request.headers.host ?? "")} is not this website's address; use ${host}`);
  });

  if (config.auth) {
    const { username, password } = config.auth;
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

  app.get("/metrics", async (_request, reply) => {
    const { contentType, body } = await ask({ what: "metrics" });
    return reply.type(contentType).send(body);
  });

  app.get("/api/state", async () => view.snapshot());

  app.get<{ Querystring: { name?: string; limit?: string } }>("/api/metrics/series", async (request, reply) => {
    const limit = request.query.limit === undefined ? undefined : Number(request.query.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      return reply.code(400).send({ error: "limit must be a positive integer (series per metric)" });
    }
    const filter = { ...(request.query.name === undefined ? {} : { name: request.query.name }), ...(limit === undefined ? {} : { limitPerMetric: limit }) };
    return ask({ what: "series", filter });
  });

  app.get<{ Querystring: { agent?: string; daemon?: string } }>("/api/logs", async (request) => {
    const { agent, daemon } = request.query;
    return { lines: view.logs({ ...(agent === undefined ? {} : { agent }), ...(daemon === undefined ? {} : { daemon }) }) };
  });

  registerHistoryRoutes(app, config.historyPath, () => ask({ what: "checks" }));

  const streams = new Set<ServerResponse>();
  app.get("/api/events", (request, reply) => {
    reply.hijack();
    streams.add(reply.raw);
    reply.raw.once("close", () => streams.delete(reply.raw));
    streamEvents(reply.raw, view, config, () => request.raw.destroyed, runner.onDrop);
  });

  await app.listen({ host, port: config.port });
  const { port } = app.server.address() as AddressInfo;
  return {
    port,
    close: async () => {
      if (view.ended) await pagesDone(streams, config.endedLingerMs);
      await app.close();
    },
  };
}

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
function streamEvents(raw: ServerResponse, view: WebsiteView, config: WebsiteConfig, gone: () => boolean, onDrop: () => void): void {
  const limits: EventStreamLimits = config.eventStreamLimits;
  raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
  const send = (event: string, data: unknown) => raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  send("state", view.snapshot());
  send("logs-all", view.recentLogs(limits.resyncLines));
  send("metrics", { version: view.metricsVersion });

  let stateChanged = false;
  let lines: LogLine[] = [];
  let linesLost = false;
  let version = view.metricsVersion;
  let ticks = 0;
  let stalledSince: number | undefined;
  const unsubscribe = view.subscribe((event) => {
    if (event.type === "state") stateChanged = true;
    else if (event.type === "skipped") linesLost = true;
    else if (lines.length < limits.pendingLines) lines.push(event.log);
    else linesLost = true;
  });
  const interval = config.pushIntervalMs;
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
      send("state", view.snapshot());
    }
    if (linesLost) {
      // The rings hold the newest lines of every stream: the browser starts over from them.
      send("logs-all", view.recentLogs(limits.resyncLines));
      linesLost = false;
    } else if (lines.length > 0) {
      send("logs", lines);
    }
    lines = [];
    if (view.metricsVersion !== version) {
      version = view.metricsVersion;
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
