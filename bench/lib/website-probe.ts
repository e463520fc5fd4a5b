/**
 * A browser's share of a run's website, in a process of its own so its work does not count as
 * the runner's: GETs /api/state one after another, and reads /api/events (SSE) meanwhile. When
 * its stdin closes it prints, as one JSON line, the latency of each /api/state (ms, request to
 * last byte) and of each `logs` message: its arrival less the receipt time of the newest line it
 * carries (the runner stamps each line as it arrives), so the push interval's batching is out and
 * what is left is the runner's delay in serializing and sending; and how often the website dropped
 * the stream for not keeping up. It prints `ready` once a
 * first /api/state, which is not a sample, has answered.
 *
 *   node --import tsx website-probe.ts <website url>
 */
import { performance } from "node:perf_hooks";

const [url] = process.argv.slice(2);
if (!url) throw new Error("usage: website-probe.ts <website url>");

let stopping = false;
const stopped = new Promise<void>((resolve) => process.stdin.once("close", resolve).once("end", resolve));
void stopped.then(() => (stopping = true));
process.stdin.resume();

const state: number[] = [];
const sse: number[] = [];
let sseBytes = 0;
const controller = new AbortController();

async function readEvents(): Promise<void> {
  const response = await fetch(`${url}/api/events`, { signal: controller.signal });
  if (!response.ok || !response.body) throw new Error(`/api/events answered ${response.status}`);
  const decoder = new TextDecoder();
  let pending = "";
  let openedWithRing = false;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    const arrived = Date.now();
    sseBytes += chunk.length;
    pending += decoder.decode(chunk, { stream: true });
    for (let end = pending.indexOf("\n\n"); end >= 0; end = pending.indexOf("\n\n")) {
      const message = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const event = /^event: (.*)$/m.exec(message)?.[1];
      const data = /^data: (.*)$/m.exec(message)?.[1];
      // Past the first logs-all (the ring as the stream opens), a logs-all is a push whose lines
      // outran the stream's pending limit: a push all the same.
      const push = event === "logs" || (event === "logs-all" && openedWithRing);
      if (event === "logs-all") openedWithRing = true;
      if (!push || data === undefined) continue;
      const lines = JSON.parse(data) as Array<{ time: string }>;
      if (lines.length === 0) continue;
      const newest = lines.reduce((latest, line) => Math.max(latest, Date.parse(line.time)), 0);
      sse.push(arrived - newest);
    }
  }
}

// The website drops a live-update client that does not keep up (src/observe/website.ts); a
// browser's EventSource then reconnects, and so does the probe, counting the drops.
let sseDrops = 0;
async function followEvents(): Promise<void> {
  while (!controller.signal.aborted) {
    try {
      await readEvents();
    } catch (error) {
      if (controller.signal.aborted) return;
      if ((error as Error).name !== "TypeError") throw error;
    }
    if (!controller.signal.aborted) sseDrops += 1;
  }
}
const events = followEvents();
async function getState(): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${url}/api/state`);
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`/api/state answered ${response.status}`);
  return performance.now() - started;
}

// The first request opens the connection and warms the client up: it is not a sample.
await getState();
process.stdout.write("ready\n");
while (!stopping) {
  state.push(await getState());
  await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 50))]);
}
controller.abort();
await events;
process.stdout.write(`${JSON.stringify({ state, sse, sseBytes, sseDrops })}\n`);
