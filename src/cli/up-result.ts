import type { Inventory } from "../core/inventory.ts";
import { expiresAtFromLabels, formatDuration, type Namespace } from "../core/namespace.ts";
import { namespaceState } from "../targets/context.ts";
import type { CliContext } from "./context.ts";
import { renderTable, writeJson } from "./output.ts";

/** The new fleet: its inventory as JSON, or a table with the commands that use it. */
export function printUpResult(context: CliContext, namespace: Namespace, inventory: Inventory, json: boolean): void {
  if (json) return writeJson(context.stdout, inventory);
  context.stdout.write(agentTable(inventory));
  const state = namespaceState(context, namespace);
  const first = inventory.agents[0];
  if (first) {
    context.stdout.write(
      `\nssh into an agent:  ssh -i ${state.clientKeyPath} -o UserKnownHostsFile=${state.knownHostsPath} -p ${first.sshPort} ${first.user}@${first.host}\n` +
        `run a scenario:     npx fieldtest run <scenario> --namespace ${namespace}\n` +
        `tear down:          npx fieldtest destroy --namespace ${namespace}   (or wait for the TTL)\n`,
    );
  }
}

function agentTable(inventory: Inventory): string {
  const now = Date.now();
  return renderTable(
    ["AGENT", "ADDRESS", "PORTS", "EXPIRES IN"],
    inventory.agents.map((a) => {
      const expires = expiresAtFromLabels(a.labels);
      return [a.name, `${a.host}:${a.sshPort}`, `${a.portRange[0]}-${a.portRange[1]}`, expires ? formatDuration((expires.getTime() - now) / 1000) : "?"];
    }),
  );
}
