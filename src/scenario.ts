import { access } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { describeIssues } from "./core/inventory.ts";
import type { Cloud } from "./runtime/cloud.ts";

const SCENARIO = Symbol.for("fieldtest.scenario");

export interface ScenarioDefinition {
  name: string;
  description?: string;
  /** How many agents the scenario wants when fieldtest provisions them (default 1). */
  agents?: number;
  /** Tezt cloud's word for `agents`; give one or the other. */
  vms?: number;
  run(cloud: Cloud): Promise<void> | void;
}

export interface Scenario extends ScenarioDefinition {
  readonly [SCENARIO]: true;
  /** The agent count to provision when the command line does not say. */
  readonly agentCount: number;
}

const definitionSchema = z
  .object({
    name: z.string().min(1, "name is empty"),
    description: z.string().optional(),
    agents: z.number().int().positive().optional(),
    vms: z.number().int().positive().optional(),
    run: z.custom<ScenarioDefinition["run"]>((value) => typeof value === "function", "run must be a function (cloud) => …"),
  })
  .refine((d) => d.agents === undefined || d.vms === undefined, { message: "give agents or vms, not both", path: ["vms"] });

/** Declares a scenario; a scenario file's default export is the result. */
export function defineScenario(definition: ScenarioDefinition): Scenario {
  const parsed = definitionSchema.safeParse(definition);
  if (!parsed.success) throw new ScenarioError(`defineScenario: ${describeIssues(parsed.error)}`);
  return { ...definition, agentCount: definition.agents ?? definition.vms ?? 1, [SCENARIO]: true };
}

export class ScenarioError extends Error {}

function isScenario(value: unknown): value is Scenario {
  return typeof value === "object" && value !== null && (value as Scenario)[SCENARIO] === true;
}

/**
 * Finds a scenario by name (`health` → `scenarios/health.ts` in the working directory,
 * then among fieldtest's own) or by path (`./scenarios/mine.ts`).
 */
export async function resolveScenarioPath(reference: string, cwd: string, builtinDir: string): Promise<string> {
  const looksLikePath = reference.includes("/") || /\.(ts|mts|js|mjs)$/.test(reference);
  const candidates = looksLikePath
    ? [isAbsolute(reference) ? reference : resolve(cwd, reference)]
    : // In the project root both are the same file: look (and report) once.
      [...new Set([join(cwd, "scenarios", `${reference}.ts`), join(builtinDir, `${reference}.ts`)])];
  for (const candidate of candidates) {
    if (await access(candidate).then(() => true, () => false)) return candidate;
  }
  throw new ScenarioError(`scenario "${reference}" not found; looked at ${candidates.join(", ")}`);
}

export async function loadScenario(path: string): Promise<Scenario> {
  const module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  if (!isScenario(module.default)) {
    throw new ScenarioError(`${path} does not export a scenario: write \`export default defineScenario({ name, run })\``);
  }
  return module.default;
}
