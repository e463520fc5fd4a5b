/**
 * The runner side of the broadcast measure, started inside the bench's runner network namespace
 * (whose only link to the agents is rate-limited): connects to the inventory's agents, copies one
 * file to all of them, and prints `{ seconds, uplinkBytes }` as JSON on stdout.
 *
 *   tsx bench/lib/broadcast-runner.ts INVENTORY.json KEY broadcast|direct LOCAL REMOTE
 */
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { inventorySchema } from "../../src/core/inventory.ts";
import { Cloud } from "../../src/runtime/cloud.ts";

const [inventoryPath, keyPath, mode, local, remote] = process.argv.slice(2);
if (!inventoryPath || !keyPath || (mode !== "broadcast" && mode !== "direct") || !local || !remote) {
  process.stderr.write("usage: broadcast-runner.ts INVENTORY.json KEY broadcast|direct LOCAL REMOTE\n");
  process.exit(2);
}
const inventory = inventorySchema.parse(JSON.parse(await readFile(inventoryPath, "utf8")));
const cloud = await Cloud.connect(inventory, { privateKey: await readFile(keyPath, "utf8"), logSink: (line) => process.stderr.write(`${line.line}\n`) });
try {
  const targets = cloud.agents.map((agent) => agent.relayTarget());
  const before = targets.reduce((sum, t) => sum + t.bytesWritten(), 0);
  const started = performance.now();
  if (mode === "broadcast") await cloud.copy(cloud.agents, local, remote);
  // Each agent's own copy, one SSH stream per agent: what fieldtest did before broadcasts.
  else await Promise.all(targets.map((t) => t.copy(local, remote)));
  const seconds = (performance.now() - started) / 1000;
  const uplinkBytes = targets.reduce((sum, t) => sum + t.bytesWritten(), 0) - before;
  process.stdout.write(`${JSON.stringify({ seconds, uplinkBytes })}\n`);
} finally {
  await cloud.close();
}
