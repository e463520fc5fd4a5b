// A GCP stack with a group `orchestrator` (the VM of detached runs) under Pulumi's mocks: the
// orchestrator VM is an agent like the others, with the namespace's labels and expiry, and the
// runner it runs is given the other agents only.
import t from "tap";
import * as pulumi from "@pulumi/pulumi";
import { inventorySchema, scenarioInventory } from "../src/core/inventory.ts";
import { LABELS } from "../src/core/namespace.ts";
import { orchestratedInventory } from "../src/runs/homes/agent-process.ts";
import { fieldtestMocks, resolved } from "./fixtures/pulumi-mocks.ts";

const { mocks, declared } = fieldtestMocks();
const expiresAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 60 * 60 * 1000);
pulumi.runtime.setAllConfig({
  "fieldtest:target": "gcp",
  "fieldtest:ttl": "1h",
  "fieldtest:expiresAt": expiresAt.toISOString(),
  "fieldtest:owner": "carol",
  "fieldtest:sshSourceRanges": JSON.stringify(["203.0.113.0/24"]),
  "fieldtest:agents": JSON.stringify([
    { name: "node", count: 2 },
    { name: "orchestrator", count: 1, machineType: "e2-small" },
  ]),
  "gcp:project": "my-project",
  "gcp:zone": "europe-west1-b",
});
await pulumi.runtime.setMocks(mocks, "fieldtest", "orch", false);
const program = await import("../infra/index.ts");
const inventory = inventorySchema.parse(await resolved(program.inventory));
const instances = declared.filter((r) => r.custom && r.type === "gcp:compute/instance:Instance").sort((a, b) => a.name.localeCompare(b.name));

t.test("the orchestrator VM carries the namespace's labels and is deleted at its expiry, as the agents are", async (t) => {
  const [orchestrator, ...nodes] = [instances.find((i) => i.inputs["name"] === "orch-orchestrator-001")!, ...instances.filter((i) => i.inputs["name"] !== "orch-orchestrator-001")];
  t.ok(orchestrator, "an instance orch-orchestrator-001");
  t.equal(nodes.length, 2);
  t.equal(orchestrator!.inputs["machineType"], "e2-small");
  t.match(orchestrator!.inputs["labels"], { [LABELS.namespace]: "orch", [LABELS.owner]: "carol", [LABELS.expiresAt]: String(expiresAt.getTime() / 1000) });
  t.same(orchestrator!.inputs["scheduling"], { provisioningModel: "STANDARD", instanceTerminationAction: "DELETE", terminationTime: expiresAt.toISOString().replace(".000Z", "Z") });
  for (const node of nodes) {
    t.same(orchestrator!.inputs["scheduling"], node.inputs["scheduling"], `the same termination as ${node.name}`);
    t.same(orchestrator!.inputs["tags"], node.inputs["tags"], "the agents' network tag: the firewall opens sshd between it and the agents");
  }
  t.match(orchestrator!.inputs["metadata"]["startup-script"], new RegExp(`FIELDTEST_EXPIRES_AT=${expiresAt.getTime() / 1000} `), "the agent container's own expiry");
});

t.test("the inventory names the orchestrator agent; its runner gets the others, at their internal addresses", async (t) => {
  t.same(inventory.agents.map((a) => [a.name, a.group]), [["node-001", "node"], ["node-002", "node"], ["orchestrator-001", "orchestrator"]]);
  t.same(scenarioInventory(inventory).agents.map((a) => a.name), ["node-001", "node-002"]);
  const inside = orchestratedInventory(inventory);
  t.same(inside.agents.map((a) => a.name), ["node-001", "node-002"]);
  for (const [i, agent] of inside.agents.entries()) t.equal(agent.host, inventory.agents[i]!.internalHost, `${agent.name} is reached at its internal address`);
});
