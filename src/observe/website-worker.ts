/**
 * The website's thread (started by website.ts): serves the run's website from a WebsiteView
 * that the runner's thread keeps current with messages.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import type { FromWebsite, ToWebsite, WebsiteStart } from "./website-protocol.ts";
import { serveWebsite, type AskRunner, type ServedWebsite } from "./website-server.ts";
import { WebsiteView } from "./website-view.ts";

async function runWebsiteThread(parent: MessagePort, start: WebsiteStart): Promise<void> {
  const post = (message: FromWebsite) => parent.postMessage(message);
  const view = new WebsiteView(start.state, start.config.logLinesPerStream);
  view.appendLogs(start.lines);
  view.metricsVersion = start.metricsVersion;

  let asked = 0;
  const waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  const ask: AskRunner = (question) =>
    new Promise((resolve, reject) => {
      const id = ++asked;
      waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      post({ type: "ask", id, question });
    });

  let served: ServedWebsite | undefined;
  let applied = 0;
  const apply = (message: ToWebsite) => {
    applied += 1;
    switch (message.type) {
      case "state":
        return view.setState(message.state);
      case "logs":
        return view.appendBursts(message.bursts);
      case "metrics-version":
        view.metricsVersion = message.version;
        return;
      case "answer": {
        const call = waiting.get(message.id);
        waiting.delete(message.id);
        if (message.error !== undefined) call?.reject(new Error(message.error));
        else call?.resolve(message.value);
        return;
      }
      case "close":
        void (served?.close() ?? Promise.resolve()).finally(() => {
          post({ type: "closed" });
          start.port.close();
          parent.close();
        });
    }
  };
  start.port.on("message", apply);
  // Messages the runner has sent but this thread's loop has not delivered yet, taken at once.
  const catchUp = () => {
    while (applied < Atomics.load(start.sent, 0)) {
      const next = receiveMessageOnPort(start.port);
      if (!next) return;
      apply(next.message as ToWebsite);
    }
  };

  try {
    served = await serveWebsite(start.config, view, { ask, catchUp, onDrop: () => post({ type: "dropped" }) });
  } catch (error) {
    post({ type: "failed", message: (error as Error).message });
    start.port.close();
    return;
  }
  post({ type: "listening", port: served.port });
}

if (parentPort) await runWebsiteThread(parentPort, workerData as WebsiteStart);
