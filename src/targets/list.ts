import type { TargetContext } from "./context.ts";
import { allTargets } from "./registry.ts";
import { recordedNamespaces } from "./reap.ts";
import type { NamespaceSummary } from "./target.ts";

/**
 * Every namespace `list` shows: each target's rows, from its recorded namespaces or found by
 * itself. A namespace found by one target (an SSH host may be this machine, whose engine then
 * shows its agents too) is listed as the target its record names.
 */
export async function listNamespaces(context: TargetContext): Promise<NamespaceSummary[]> {
  const recorded = await recordedNamespaces(context);
  const rows = (await Promise.all(allTargets().map((target) => target.listed(context, recorded.filter((opened) => opened.target === target))))).flat();
  const ownTarget = new Map(recorded.map((opened) => [opened.namespace as string, opened.target.name]));
  return rows.filter((row) => (ownTarget.get(row.namespace) ?? row.target) === row.target).sort((a, b) => a.namespace.localeCompare(b.namespace));
}
