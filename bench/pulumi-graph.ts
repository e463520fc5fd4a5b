/**
 * How long the GCP program takes to build the resource graph of a 1,000-VM stack, under Pulumi
 * mocks (no engine, no cloud): the program's own share of a `pulumi preview`. Goal: ≤ 10 s.
 *
 *   npx tsx bench/pulumi-graph.ts                    (or npm run bench:pulumi-graph)
 *   BENCH_AGENTS=200 npx tsx bench/pulumi-graph.ts   another fleet size
 */
import { performance } from "node:perf_hooks";
import * as pulumi from "@pulumi/pulumi";
import { fieldtestMocks, resolved } from "../test/fixtures/pulumi-mocks.ts";

const AGENTS = Number(process.env["BENCH_AGENTS"] ?? 1000);
const GOAL_SECONDS = 10;

const { mocks, declared } = fieldtestMocks();
// Groups of at most 999 agents, the naming rule's three digits (src/core/naming.ts).
const GROUP_SIZE = 500;
const groups = Array.from({ length: Math.ceil(AGENTS / GROUP_SIZE) }, (_, i) => ({
  name: `node${i}`,
  count: Math.min(GROUP_SIZE, AGENTS - i * GROUP_SIZE),
  machineType: "e2-small",
}));
pulumi.runtime.setAllConfig({
  "fieldtest:target": "gcp",
  "fieldtest:maxVms": String(AGENTS),
  "fieldtest:expiresAt": new Date(Date.now() + 2 * 3600 * 1000).toISOString(),
  "fieldtest:sshSourceRanges": JSON.stringify(["203.0.113.7/32"]),
  "fieldtest:agents": JSON.stringify(groups),
  "gcp:project": "bench-project",
  "gcp:zone": "europe-west1-b",
});
await pulumi.runtime.setMocks(mocks, "fieldtest", "bench", false);

const started = performance.now();
const cpuBefore = process.cpuUsage();
const program = await import("../infra/index.ts");
const inventory = await resolved(program.inventory);
const seconds = (performance.now() - started) / 1000;
// CPU time too: on a shared machine the wall time also measures the neighbours.
const cpu = process.cpuUsage(cpuBefore);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;

const customResources = declared.filter((resource) => resource.custom).length;
console.log(`agents in inventory: ${inventory.agents.length}`);
console.log(`resources: ${declared.length} (${customResources} cloud/tls/image resources, ${declared.length - customResources} components)`);
console.log(
  `graph built in ${seconds.toFixed(2)} s wall, ${cpuSeconds.toFixed(2)} s CPU (goal ≤ ${GOAL_SECONDS} s): ${seconds <= GOAL_SECONDS ? "within goal" : "OVER GOAL"}`,
);
