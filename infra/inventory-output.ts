import * as pulumi from "@pulumi/pulumi";
import { describeIssues, inventorySchema, InventoryError, type Inventory, type Target } from "../src/core/inventory.ts";
import type { Namespace } from "../src/core/namespace.ts";

/** An agent as a cloud component provisioned it; addresses and key are known only after creation. */
export interface ProvisionedAgent {
  /** `node-001`: the one naming rule of src/core/naming.ts. */
  name: string;
  group: string;
  host: pulumi.Output<string>;
  internalHost: pulumi.Output<string>;
  hostKey: pulumi.Output<string>;
  sshPort: number;
  user: string;
  portRange: [number, number];
  labels: Record<string, string>;
}

export interface InventoryHeader {
  target: Target;
  namespace: Namespace;
  createdAt: Date;
  expiresAt: Date;
}

/**
 * The inventory checked against the runtime's own schema: a provider returning something
 * unexpected fails `pulumi up` naming the field, instead of failing later in the runtime.
 */
export function validatedInventory(header: InventoryHeader, agents: readonly unknown[]): Inventory {
  const result = inventorySchema.safeParse({
    target: header.target,
    namespace: header.namespace,
    createdAt: header.createdAt.toISOString(),
    expiresAt: header.expiresAt.toISOString(),
    agents,
  });
  if (!result.success) {
    throw new InventoryError(`the ${header.target} stack produced an invalid inventory:\n${describeIssues(result.error, "inventory")}`);
  }
  return result.data;
}

/** The stack's `inventory` output, validated once every agent's address and host key are known. */
export function inventoryOutput(header: InventoryHeader, agents: readonly ProvisionedAgent[]): pulumi.Output<Inventory> {
  const resolvedAgents = agents.map((agent) =>
    pulumi.all([agent.host, agent.internalHost, agent.hostKey]).apply(([host, internalHost, hostKey]) => ({
      name: agent.name,
      group: agent.group,
      host,
      internalHost,
      sshPort: agent.sshPort,
      user: agent.user,
      hostKey,
      portRange: agent.portRange,
      labels: agent.labels,
    })),
  );
  return pulumi.all(resolvedAgents).apply((resolved) => validatedInventory(header, resolved));
}
