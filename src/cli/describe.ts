import { formatShape } from "../core/shapes.ts";
import { join } from "node:path";
import { loadScenario, resolveScenarioPath, type Scenario } from "../scenario/scenario.ts";
import { agentNamesOf, type FleetGroup } from "../scenario/scenario-fleet.ts";
import { describeParams, type ParamDoc } from "../scenario/scenario-params.ts";
import { quoteArg } from "../transport/quote.ts";
import type { CliContext } from "./context.ts";
import { renderTable, writeJson } from "./output.ts";
import { fleetGroups, scenarioParams, type ScenarioArguments } from "./scenario-options.ts";

/** What `fieldtest describe` says of a scenario: enough to run it without reading its code. */
export interface ScenarioDescription {
  name: string;
  path?: string;
  /** How the command line named the scenario, which `run` takes again. */
  reference?: string;
  description?: string;
  invariants: readonly string[];
  params: ParamDoc[];
  /** The parameters the fleet below is computed for: defaults, with --param/--params applied. */
  values: Record<string, unknown>;
  groups: Array<FleetGroup & { agents: string[] }>;
}

export function describeScenario(scenario: Scenario, values: Record<string, unknown>, groups: FleetGroup[]): ScenarioDescription {
  return {
    name: scenario.name,
    ...(scenario.path ? { path: scenario.path } : {}),
    ...(scenario.reference ? { reference: scenario.reference } : {}),
    ...(scenario.description ? { description: scenario.description } : {}),
    invariants: scenario.invariants,
    params: describeParams(scenario),
    values,
    groups: groups.map((group) => ({ ...group, agents: agentNamesOf([group]) })),
  };
}

function renderDescription(d: ScenarioDescription): string {
  const lines = [`scenario ${d.name}${d.path ? `  (${d.path})` : ""}`];
  if (d.description) lines.push("", d.description);
  lines.push("", d.groups.length ? "fleet:" : "fleet: depends on the required parameters below (describe --param name=value shows it)");
  const groupRows = d.groups.map((g) => {
    const names = g.agents.length > 1 ? `${g.agents[0]} … ${g.agents.at(-1)}` : (g.agents[0] ?? "");
    const machines = g.machineType ? Object.entries(g.machineType).map(([cloud, type]) => `${cloud} ${type}`).join(", ") : "";
    return [`  ${g.name}`, `${g.count} ×`, `image ${g.image}`, g.shape ? formatShape(g.shape) : "any size", names, machines];
  });
  if (groupRows.length) lines.push(renderTable(["  GROUP", "COUNT", "IMAGE", "SHAPE", "AGENTS", "MACHINE TYPE"], groupRows).trimEnd());
  lines.push("", "parameters:");
  if (d.params.length === 0) lines.push("  (none)");
  else {
    const rows = d.params.map((p) => [
      `  ${p.name}`,
      p.type,
      p.required ? "required" : p.default !== undefined ? `default ${JSON.stringify(p.default)}` : "optional",
      p.rules.join(", "),
      p.description ?? "",
    ]);
    lines.push(renderTable(["  NAME", "TYPE", "DEFAULT", "RULES", "DESCRIPTION"], rows).trimEnd());
    lines.push(`  values used for the fleet above: ${JSON.stringify(d.values)}`);
  }
  lines.push("", "invariants:");
  lines.push(...(d.invariants.length ? d.invariants.map((text) => `  - ${text}`) : ["  (none stated)"]));
  lines.push("", `run it:  npx fieldtest run ${quoteArg(d.reference ?? d.name)} --localhost${d.params[0] ? ` --param ${d.params[0].name}=…` : ""}`);
  return `${lines.join("\n")}\n`;
}

export async function describeCommand(context: CliContext, reference: string, args: ScenarioArguments, json: boolean): Promise<void> {
  // Found as a run finds it (resolveSpecScenario), without loading the run's session and website.
  const scenario = await loadScenario(await resolveScenarioPath(reference, context.cwd, join(context.packageRoot, "scenarios")), reference);
  const given = args.pairs.length > 0 || args.paramsFile !== undefined;
  // Without --param, a scenario whose parameters have no defaults is still described; its fleet then needs them.
  const values = await scenarioParams(scenario, args).catch((error: Error) => {
    if (given) throw error;
    return undefined;
  });
  const description = describeScenario(scenario, values ?? {}, values ? fleetGroups(scenario, values, args.overrides) : []);
  if (json) return writeJson(context.stdout, description);
  context.stdout.write(renderDescription(description));
}
