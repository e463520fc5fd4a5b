/**
 * The fieldtest Pulumi program: one stack per namespace, provisioning the agents of a GCP or AWS
 * fleet and exporting the inventory the runtime reads. See stacks/ for documented stack configs.
 */
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import type { Inventory } from "../src/inventory.ts";
import { dockerfileAliases } from "./agent-image.ts";
import { AwsFleet } from "./aws.ts";
import { parseStackConfig, StackConfigError, type StackConfig } from "./config.ts";
import { GcpFleet } from "./gcp.ts";
import { inventoryOutput } from "./inventory-output.ts";

const dockerfilesDir = fileURLToPath(new URL("../dockerfiles/", import.meta.url));

const config = parseStackConfig(pulumi.runtime.allConfig(), {
  stackName: pulumi.getStack(),
  now: new Date(),
  defaultOwner: process.env["USER"] || process.env["LOGNAME"] || "unknown",
  imageAliases: dockerfileAliases(dockerfilesDir),
});

function provisionFleet(config: StackConfig): GcpFleet | AwsFleet {
  switch (config.target) {
    case "gcp":
      return new GcpFleet(config.namespace, { config, dockerfilesDir });
    case "aws":
      return new AwsFleet(config.namespace, { config, dockerfilesDir });
    case "ssh":
      throw new StackConfigError(
        "fieldtest:target: ssh hosts are not provisioned by this Pulumi program: use `fieldtest up --ssh-host ...`, or set fieldtest:target to gcp or aws",
      );
  }
}

const fleet = provisionFleet(config);

/** What the runtime needs to reach every agent; validated against src/inventory.ts. */
export const inventory: pulumi.Output<Inventory> = inventoryOutput(config, fleet.agents);
/** The namespace's client key: `pulumi stack output --show-secrets clientPrivateKey`. */
export const clientPrivateKey: pulumi.Output<string> = pulumi.secret(fleet.clientPrivateKey);
