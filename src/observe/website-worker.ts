/**
 * The website's thread (started by website.ts): serves the run's website from a WebsiteView
 * that the runner's thread keeps current with messages.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import { SYNC, type FromWebsite, type ToWebsite, type WebsiteStart } from "./website-protocol.ts";
import { serveWebsite, type AskRunner, type ServedWebsite } from "./website-server.ts";
import { WebsiteView } from "./website-view.ts";

/** Longest a request waits for a change the runner has announced but not yet sent. */
const CATCH_UP_MS = 100;

async function runWebsiteThread(parent: MessagePort, start: WebsiteStart): Promise<void> {
  const post = (message: FromWebsite) => parent.postMessage(message);
  const view = new WebsiteView(start.state, start.config.logLinesPerStream, start.config.logLinesTotal);
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
    applied = (applied + 1) | 0;
    switch (message.type) {
      case "state":
        return view.setState(message.state);
      case "logs":
        view.appendBursts(message.bursts);
        Atomics.add(start.sync, SYNC.linesApplied, message.bursts.reduce((sum, burst) => sum + burst.lines.length, 0));
        return;
      case "skipped":
        return view.markSkipped();
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
  // Takes the changes announced before the request arrived, which this thread's loop has not
  // delivered yet; one still being gathered on the runner's thread is waited for, briefly.
  const catchUp = () => {
    const target = Atomics.load(start.sync, SYNC.announced);
    const deadline = Date.now() + CATCH_UP_MS;
    // The counters wrap at 2^31: compared by their int32 difference.
    while (((target - applied) | 0) > 0) {
      const next = receiveMessageOnPort(start.port);
      if (next) {
        apply(next.message as ToWebsite);
        continue;
      }
      const posted = Atomics.load(start.sync, SYNC.posted);
      const left = deadline - Date.now();
      if (((posted - applied) | 0) > 0 || left <= 0) return;
      Atomics.wait(start.sync, SYNC.posted, posted, left);
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
