import type { Inventory } from "../../core/inventory.ts";
import { Cloud } from "../cloud.ts";
import { healAgents, type AgentHealReport } from "./heal.ts";

/** `fieldtest heal --namespace`: connects to a fleet and removes every fault on every agent. */
export async function healFleet(inventory: Inventory, privateKey: string): Promise<AgentHealReport[]> {
  const cloud = await Cloud.connect(inventory, { privateKey, logSink: () => {} });
  try {
    return await healAgents(cloud.agents);
  } finally {
    await cloud.close();
  }
}
