import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { pollUntil } from "./poll.ts";
import { timeoutMessage, type WaitContext, type WaitStrategy } from "./wait-strategy.ts";

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

/**
 * A GET of `url`, made from the agent (through the runner's SSH connection), answers with
 * `status` (default any 2xx); resolves with the status. `http://127.0.0.1:8080/ping` is the agent itself.
 */
export class HttpWait implements WaitStrategy<number> {
  readonly description: string;
  readonly #url: URL;

  constructor(url: string, private readonly options: WaitForHttpOptions = {}) {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new Error(`waitForHttp: "${url}" is not a URL such as http://127.0.0.1:8080/ping`);
    }
    if (target.protocol !== "http:" && target.protocol !== "https:") throw new Error(`waitForHttp: ${url} must be http:// or https://`);
    this.#url = target;
    this.description = `GET ${url} to answer with ${options.status === undefined ? "a 2xx status" : `status ${options.status}`}`;
  }

  waitUntilReady(context: WaitContext): Promise<number> {
    const target = this.#url;
    const port = Number(target.port || (target.protocol === "https:" ? 443 : 80));
    const host = target.hostname.replace(/^\[|\]$/g, "");
    const wanted = this.options.status;
    return pollUntil(
      context.timeoutMs,
      async (remaining) => {
        try {
          const status = await httpGetOver(() => context.target.forwardOut(host, port), target, this.options, remaining);
          const ok = wanted === undefined ? status >= 200 && status < 300 : status === wanted;
          return ok ? { done: true, value: status } : { done: false, problem: `the last answer was status ${status}` };
        } catch (error) {
          return { done: false, problem: `the last attempt failed: ${(error as Error).message}` };
        }
      },
      (problem) => timeoutMessage(context, this.description, problem),
    );
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
