/**
 * A runner process of its own, so the bench's other work does not count: reports its RSS
 * before and after connecting to every agent of an inventory (one `true` on each, after a
 * GC). Run by bench/measures/memory.ts: node --expose-gc --import tsx memory-probe.ts <inventory.json> <key>
 */
import { readFile } from "node:fs/promises";
import { readInventoryFile } from "../../src/core/inventory.ts";
import { Cloud } from "../../src/runtime/cloud.ts";

const [inventoryPath, keyPath] = process.argv.slice(2);
if (!inventoryPath || !keyPath) throw new Error("usage: memory-probe.ts <inventory.json> <private key>");
const inventory = await readInventoryFile(inventoryPath);
const privateKey = await readFile(keyPath, "utf8");

async function settledRss(): Promise<number> {
  globalThis.gc?.();
  await new Promise((resolve) => setTimeout(resolve, 300));
  return process.memoryUsage().rss;
}

const before = await settledRss();
const cloud = await Cloud.connect(inventory, { privateKey, logSink: () => {} });
await Promise.all(cloud.agents.map((agent) => agent.exec("true")));
const after = await settledRss();
await cloud.close();
process.stdout.write(`${JSON.stringify({ agents: cloud.agents.length, before, after })}\n`);
