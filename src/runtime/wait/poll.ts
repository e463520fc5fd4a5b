import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect as tlsConnect } from "node:tls";
import type { Duplex } from "node:stream";

/**
 * Readiness checks polled against a deadline, never a fixed sleep: each attempt is one round
 * trip, the pause between attempts grows from 50 ms to 1 s, and a timeout says what was awaited
 * and what the last attempt saw.
 */

export class WaitTimeoutError extends Error {}

export interface WaitForPortOptions {
  /** The address the agent connects to (default 127.0.0.1, the agent itself). */
  host?: string;
  /** Default 30 s. */
  timeoutMs?: number;
}

export interface WaitForHttpOptions {
  /** The status that means ready (default: any 2xx). */
  status?: number;
  /** Default 30 s. */
  timeoutMs?: number;
  /** For https URLs: a PEM CA bundle to trust, e.g. the certificate a scenario made. */
  ca?: string;
  /** For https URLs: accept any certificate (default false). */
  insecure?: boolean;
}

export const DEFAULT_WAIT_MS = 30_000;

/** Polls `attempt` until it returns a result, or throws WaitTimeoutError with `describe(lastProblem)`. */
export async function pollUntil<T>(
  timeoutMs: number,
  attempt: (remainingMs: number) => Promise<{ done: true; value: T } | { done: false; problem: string }>,
  describe: (lastProblem: string) => string,
): Promise<T> {
  if (!(timeoutMs > 0)) throw new Error(`timeoutMs must be a positive number of milliseconds, not ${timeoutMs}`);
  const deadline = Date.now() + timeoutMs;
  let pause = 50;
  let problem: string | undefined;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new WaitTimeoutError(describe(problem ?? "no attempt finished"));
    const outcome = await attempt(remaining);
    if (outcome.done) return outcome.value;
    const left = deadline - Date.now();
    // An attempt the deadline cut short ("socket hang up") says less than the one before it
    // ("the last answer was status 404"): the timeout reports the last one that ended in time.
    if (left <= 0) throw new WaitTimeoutError(describe(problem ?? outcome.problem));
    problem = outcome.problem;
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    pause = Math.min(pause * 2, 1000);
  }
}

/** ssh2 channels are streams, not sockets: http asks a socket for these, which mean nothing here. */
function asSocket(stream: Duplex): Duplex {
  const socket = stream as Duplex & Record<string, unknown>;
  for (const method of ["setNoDelay", "setKeepAlive", "setTimeout", "ref", "unref"]) {
    if (typeof socket[method] !== "function") socket[method] = () => socket;
  }
  return socket;
}

/** One GET of `url` over a connection the agent opened; resolves with the status. */
export function httpGetOver(openStream: () => Promise<Duplex>, url: URL, options: WaitForHttpOptions, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    openStream().then((stream) => {
      const https = url.protocol === "https:";
      const transport = https ? tlsConnect({ socket: asSocket(stream) as never, servername: url.hostname, ca: options.ca, rejectUnauthorized: !options.insecure }) : asSocket(stream);
      const send = https ? httpsRequest : httpRequest;
      const timer = setTimeout(() => request.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      // No `agent`: with one (even `agent: false`, a fresh one) Node ignores createConnection and
      // connects from the runner itself, which only looks right when the runner shares the agent's network.
      const request = send(url, { method: "GET", createConnection: () => transport as never }, (response: IncomingMessage) => {
        clearTimeout(timer);
        response.resume();
        resolve(response.statusCode ?? 0);
        transport.destroy();
      });
      request.once("error", (error) => {
        clearTimeout(timer);
        transport.destroy();
        reject(error);
      });
      request.end();
    }, reject);
  });
}
