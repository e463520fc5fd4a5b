/**
 * The fieldtest Pulumi program: one stack per namespace, provisioning the agents of a GCP or AWS
 * fleet and exporting the inventory the runtime reads. See stacks/ for documented stack configs.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import type { Inventory } from "../src/inventory.ts";
import { dockerfileAliases } from "./agent-image.ts";
import { parseStackConfig, StackConfigError, type StackConfig } from "./config.ts";
import { inventoryOutput, type ProvisionedAgent } from "./inventory-output.ts";

// Relative to the project root, where Pulumi runs the program: the image build inputs recorded
// in the stack state are then the same on every machine.
const dockerfilesDir = path.relative(process.cwd(), fileURLToPath(new URL("../dockerfiles/", import.meta.url)));

const config = parseStackConfig(pulumi.runtime.allConfig(), {
  stackName: pulumi.getStack(),
  now: new Date(),
  defaultOwner: process.env["USER"] || process.env["LOGNAME"] || "unknown",
  imageAliases: dockerfileAliases(dockerfilesDir),
});

interface Fleet {
  agents: ProvisionedAgent[];
  clientPrivateKey: pulumi.Output<string>;
}

/**
 * Pulumi records a stack trace for every promise it creates, for its leak report: dozens per
 * resource, each formatted through tsx's source maps. For a 1,000-VM fleet that was most of the
 * time spent building the graph (bench/pulumi-graph.ts: 45 s, 10 s without). Resources' source
 * positions do not suffer: Pulumi lifts the limit itself to compute them.
 */
function withoutStackTraces<T>(declare: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return declare();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Each target's module is loaded only when used: the provider SDKs take long to load. */
async function provisionFleet(config: StackConfig): Promise<Fleet> {
  switch (config.target) {
    case "gcp": {
      const { GcpFleet } = await import("./gcp.ts");
      return withoutStackTraces(() => new GcpFleet(config.namespace, { config, dockerfilesDir }));
    }
    case "aws": {
      const { AwsFleet } = await import("./aws.ts");
      return withoutStackTraces(() => new AwsFleet(config.namespace, { config, dockerfilesDir }));
    }
    case "ssh":
      throw new StackConfigError(
        "fieldtest:target: ssh hosts are not provisioned by this Pulumi program: use `fieldtest up --ssh-host ...`, or set fieldtest:target to gcp or aws",
      );
  }
}

const fleet = await provisionFleet(config);

/** What the runtime needs to reach every agent; validated against src/inventory.ts. */
export const inventory: pulumi.Output<Inventory> = inventoryOutput(config, fleet.agents);
/** The namespace's client key: `pulumi stack output --show-secrets clientPrivateKey`. */
export const clientPrivateKey: pulumi.Output<string> = pulumi.secret(fleet.clientPrivateKey);
