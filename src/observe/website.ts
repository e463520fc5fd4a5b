import { MessageChannel, Worker } from "node:worker_threads";
import type { MetricStore } from "./metrics.ts";
import type { RunState } from "./run-state.ts";
import { isLoopbackHost } from "./host-names.ts";
import { SYNC, type Answers, type EventStreamLimits, type FromWebsite, type LogBurst, type Question, type ToWebsite, type WebsiteConfig, type WebsiteStart } from "./website-protocol.ts";

export { hostHeaderName, isLoopbackHost } from "./host-names.ts";
export type { EventStreamLimits } from "./website-protocol.ts";

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
  /** Recent lines kept per agent+daemon (default 200); older ones are in the run directory's logs. */
  logLinesPerStream?: number;
  /**
   * Recent lines kept in all (default 50,000): past 250 streams, each keeps its share, and at
   * least 20, so a thousand agents' daemons cost what 250 would.
   */
  logLinesTotal?: number;
  /**
   * Lines sent to the website's thread and not yet taken (default 5,000): past it, lines are
   * left out until it catches up, and pages start over from the recent lines. A thread starved
   * of CPU cannot grow the runner's memory; the run directory's logs still get every line.
   */
  maxLinesInFlight?: number;
  /** The website's thread failed after it started: the run goes on without its website. */
  onError?: (error: Error) => void;
}

export const EVENT_STREAM_LIMITS: EventStreamLimits = { pendingLines: 1000, resyncLines: 5000, bufferedBytes: 4 * 1024 * 1024, stalledMs: 30_000 };

const MAX_LINES_IN_FLIGHT = 5_000;

/** How long an ended run's website waits for its open pages to fetch the final history and checks. */
const ENDED_LINGER_MS = 3000;

export interface Website {
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  /** Live-update clients dropped for not keeping up, since start. */
  readonly droppedEventClients: number;
  close(): Promise<void>;
}

export class WebsiteError extends Error {}

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
 * The website's thread: website-worker beside this module, compiled, bundled or not. Its young
 * generation is kept small: with the default, a runner of 200 streaming agents peaked at about
 * 310 MB of RSS, with 4 MB at about 250 MB.
 */
function startThread(start: WebsiteStart): Worker {
  const options = { workerData: start, transferList: [start.port], resourceLimits: { maxYoungGenerationSizeMb: 4 } };
  const self = import.meta.url;
  if (self.endsWith(".ts")) {
    // The sources run through tsx, whose loader a worker does not inherit (privatenumber/tsx#354).
    const tsx = import.meta.resolve("tsx/esm/api");
    const entry = new URL("./website-worker.ts", self).href;
    const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(boot, { ...options, eval: true });
  }
  // website.js in the package, fieldtest.mjs in a runner's bundle: the worker's file is named alike.
  return new Worker(new URL(`./website-worker${self.slice(self.lastIndexOf("."))}`, self), options);
}

/** Answers the website's questions about what only this thread holds: the metrics and the checks. */
async function answer(options: WebsiteOptions, question: Question): Promise<Answers[Question["what"]]> {
  switch (question.what) {
    case "metrics":
      return { contentType: options.metrics.contentType, body: await options.metrics.render() };
    case "series":
      return { version: options.metrics.version, series: options.metrics.history(question.filter) };
    case "checks":
      return options.history?.checks() ?? null;
  }
}

/**
 * The run's website, on a thread of its own: the page, /metrics for Prometheus, JSON APIs and
 * Server-Sent Events (website-server.ts). This thread sends it every change of `state`, its log
 * lines in batches, and the metrics' version; a runner busy with a thousand streaming agents
 * does not keep a page waiting. It shows the lines appended from its start on, so a run starts
 * it first. Reads RunState and MetricStore; never changes them.
 */
export async function startWebsite(options: WebsiteOptions): Promise<Website> {
  const host = options.host ?? "127.0.0.1";
  checkOptions(options, host);
  const { state, metrics } = options;
  const config: WebsiteConfig = {
    host,
    port: options.port ?? 8080,
    ...(options.auth ? { auth: options.auth } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
    pushIntervalMs: options.pushIntervalMs ?? 250,
    allowedHosts: options.allowedHosts ?? [],
    eventStreamLimits: { ...EVENT_STREAM_LIMITS, ...options.eventStreamLimits },
    ...(options.history ? { historyPath: options.history.path } : {}),
    endedLingerMs: options.endedLingerMs ?? ENDED_LINGER_MS,
    logLinesPerStream: options.logLinesPerStream ?? 200,
    logLinesTotal: options.logLinesTotal ?? 50_000,
  };
  const channel = new MessageChannel();
  const sync = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  const worker = startThread({ config, port: channel.port2, sync, state: state.snapshot(), metricsVersion: metrics.version });
  const send = (message: ToWebsite) => {
    channel.port1.postMessage(message);
    Atomics.add(sync, SYNC.posted, 1);
    Atomics.notify(sync, SYNC.posted);
  };
  const post = (message: ToWebsite) => {
    Atomics.add(sync, SYNC.announced, 1);
    send(message);
  };

  // Lines go over in one message per run of this thread (a chunk of a daemon's output, say),
  // grouped by stream and time; state changes at once, after the lines before them, so the
  // website sees them in the order they happened.
  let bursts: LogBurst[] = [];
  const sendLines = () => {
    if (bursts.length === 0) return;
    send({ type: "logs", bursts });
    bursts = [];
  };
  const maxInFlight = options.maxLinesInFlight ?? MAX_LINES_IN_FLIGHT;
  let linesSent = 0;
  let skipping = false;
  const unsubscribe = state.subscribe((event) => {
    if (event.type === "log") {
      // Counters wrap at 2^31 (a long run's lines): their difference is taken as an int32 too.
      if (((linesSent - Atomics.load(sync, SYNC.linesApplied)) | 0) >= maxInFlight) {
        if (!skipping) post({ type: "skipped" });
        skipping = true;
        return;
      }
      skipping = false;
      linesSent = (linesSent + 1) | 0;
      const { agent, daemon, time, line } = event.log;
      const last = bursts[bursts.length - 1];
      if (last?.agent === agent && last.daemon === daemon && last.time === time) last.lines.push(line);
      else {
        if (!last) {
          Atomics.add(sync, SYNC.announced, 1);
          queueMicrotask(sendLines);
        }
        bursts.push({ agent, daemon, time, lines: [line] });
      }
      return;
    }
    sendLines();
    post({ type: "state", state: state.snapshot() });
  });
  let version = metrics.version;
  const metricsTimer = setInterval(() => {
    if (metrics.version === version) return;
    version = metrics.version;
    post({ type: "metrics-version", version });
  }, config.pushIntervalMs);
  metricsTimer.unref();
  const stop = () => {
    unsubscribe();
    clearInterval(metricsTimer);
  };

  let dropped = 0;
  let started = false;
  let onClosed = () => {};
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const listening = new Promise<number>((resolve, reject) => {
    worker.on("message", (message: FromWebsite) => {
      switch (message.type) {
        case "listening":
          started = true;
          return resolve(message.port);
        case "failed":
          return reject(new WebsiteError(message.message));
        case "ask":
          answer(options, message.question).then(
            (value) => post({ type: "answer", id: message.id, value }),
            (error: Error) => post({ type: "answer", id: message.id, error: error.message }),
          );
          return;
        case "dropped":
          dropped += 1;
          return;
        case "closed":
          return onClosed();
      }
    });
    worker.on("error", (error) => (started ? options.onError?.(error) : reject(error)));
    worker.once("exit", (code) => {
      onClosed();
      reject(new WebsiteError(`the website's thread exited (code ${code}) before it listened`));
    });
  });
  let port: number;
  try {
    port = await listening;
  } catch (error) {
    stop();
    channel.port1.close();
    await worker.terminate();
    throw error;
  }
  const scheme = options.tls ? "https" : "http";
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `${scheme}://${urlHost}:${port}`,
    port,
    get droppedEventClients() {
      return dropped;
    },
    close: async () => {
      stop();
      sendLines();
      post({ type: "close" });
      await closed;
      channel.port1.close();
      await worker.terminate();
    },
  };
}
