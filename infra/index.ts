/**
 * The fieldtest Pulumi program: one stack per namespace, provisioning the agents of a GCP or AWS
 * fleet, or of existing SSH hosts, and exporting the inventory the runtime reads. See stacks/ for
 * documented stack configs.
 */
import { homedir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import type { Inventory } from "../src/core/inventory.ts";
import { catalogAliases, type ImageCatalog } from "../src/core/image-catalog.ts";
import { parseStackConfig, type StackConfig } from "../src/core/stack-config.ts";
import { inventoryOutput, type ProvisionedAgent } from "./inventory-output.ts";

// Relative to the project root, where Pulumi runs the program: the image build inputs recorded
// in the stack state are then the same on every machine.
// The compiled program is one folder deeper, in the package's build/infra/.
const packageRoot = new URL(import.meta.url).pathname.endsWith(".ts") ? "../" : "../../";
const dockerfilesDir = path.relative(process.cwd(), fileURLToPath(new URL(`${packageRoot}dockerfiles/`, import.meta.url)));

const config = parseStackConfig(pulumi.runtime.allConfig(), {
  stackName: pulumi.getStack(),
  // Only to refuse an expiry that has passed: what the resources get is the anchored
  // fieldtest:expiresAt, so that a second `pulumi up` changes nothing.
  now: new Date(),
  defaultOwner: process.env["USER"] || process.env["LOGNAME"] || "unknown",
  imageAliases: (projectDirs) => catalogAliases({ projectDirs, fieldtestDir: dockerfilesDir }),
  homeDir: homedir(),
});

/** A cloud fleet's images: the project's folders the stack names (the ones localhost searches), then fieldtest's own. */
function imageCatalog(projectDirs: readonly string[]): ImageCatalog {
  return { projectDirs, fieldtestDir: dockerfilesDir };
}

interface Fleet {
  inventory: pulumi.Output<Inventory>;
  clientPrivateKey: pulumi.Output<string>;
}

function cloudFleet(config: StackConfig, fleet: { agents: ProvisionedAgent[]; clientPrivateKey: pulumi.Output<string> }): Fleet {
  return { inventory: inventoryOutput(config, fleet.agents), clientPrivateKey: fleet.clientPrivateKey };
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
      return cloudFleet(config, withoutStackTraces(() => new GcpFleet(config.namespace, { config, catalog: imageCatalog(config.dockerfileDirs) })));
    }
    case "aws": {
      const { AwsFleet } = await import("./aws.ts");
      return cloudFleet(config, withoutStackTraces(() => new AwsFleet(config.namespace, { config, catalog: imageCatalog(config.dockerfileDirs) })));
    }
    case "ssh": {
      const { SshFleet } = await import("./ssh.ts");
      return SshFleet.create(config.namespace, { config });
    }
  }
}

const fleet = await provisionFleet(config);

/** What the runtime needs to reach every agent; validated against src/inventory.ts. */
export const inventory: pulumi.Output<Inventory> = fleet.inventory;
/** The namespace's client key: `pulumi stack output --show-secrets clientPrivateKey`. */
export const clientPrivateKey: pulumi.Output<string> = pulumi.secret(fleet.clientPrivateKey);
