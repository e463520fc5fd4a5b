import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Agent } from "fieldtest";

const JSON_HTTP = join(dirname(fileURLToPath(import.meta.url)), "json_http.py");

/**
 * Copies a reference fleet's stand-in scripts (a directory) to `remote` on the agent, with the
 * handler base they share (json_http.py) beside them, where Python finds it.
 */
export async function copyStandIns(agent: Agent, local: string, remote: string): Promise<void> {
  await agent.copy(local, remote);
  await agent.copy(JSON_HTTP, `${remote}/json_http.py`);
}
