// An AWS stack with a group `orchestrator` (the VM of detached runs) under Pulumi's mocks: the
// orchestrator instance is an agent like the others, with the namespace's tags and expiry.
import t from "tap";
import * as pulumi from "@pulumi/pulumi";
import { inventorySchema, runnerAgent } from "../src/core/inventory.ts";
import { LABELS } from "../src/core/namespace.ts";
import { fieldtestMocks, resolved } from "./fixtures/pulumi-mocks.ts";

const { mocks, declared } = fieldtestMocks();
const expiresAtSeconds = Math.floor(Date.now() / 1000) + 3600;
pulumi.runtime.setAllConfig({
  "fieldtest:target": "aws",
  "fieldtest:ttl": "1h",
  "fieldtest:expiresAt": String(expiresAtSeconds),
  "fieldtest:owner": "carol",
  "fieldtest:sshSourceRanges": JSON.stringify(["203.0.113.7/32"]),
  "fieldtest:agents": JSON.stringify([
    { name: "node", count: 2 },
    { name: "orchestrator", count: 1, machineType: "t3.small" },
  ]),
  "aws:region": "eu-west-1",
});
await pulumi.runtime.setMocks(mocks, "fieldtest", "orch", false);
const program = await import("../infra/index.ts");
const inventory = inventorySchema.parse(await resolved(program.inventory));
const instances = declared.filter((r) => r.custom && r.type === "aws:ec2/instance:Instance");

t.test("the orchestrator instance carries the namespace's tags and powers off at its expiry, as the agents do", async (t) => {
  const orchestrator = instances.find((i) => i.inputs["tags"]?.Name === "orch--orchestrator-001");
  const nodes = instances.filter((i) => i !== orchestrator);
  t.ok(orchestrator, "an instance tagged Name=orch--orchestrator-001");
  t.equal(nodes.length, 2);
  t.equal(orchestrator!.inputs["instanceType"], "t3.small");
  t.match(orchestrator!.inputs["tags"], { [LABELS.namespace]: "orch", [LABELS.owner]: "carol", [LABELS.expiresAt]: String(expiresAtSeconds) });
  t.equal(orchestrator!.inputs["instanceInitiatedShutdownBehavior"], "terminate");
  const userData: string = orchestrator!.inputs["userData"];
  t.match(userData, new RegExp(`>= ${expiresAtSeconds} \\)\\); then systemctl poweroff[^]*fieldtest-expiry\\.timer`), "the power-off at the anchored expiry");
  for (const node of nodes) {
    t.same(orchestrator!.inputs["vpcSecurityGroupIds"], node.inputs["vpcSecurityGroupIds"], "the agents' security group: sshd is open between it and the agents");
  }
  t.match(runnerAgent(inventory), { name: "orchestrator-001", group: "orchestrator", internalHost: /^172\.31\./ });
});
