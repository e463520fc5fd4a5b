import { access } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { describeIssues } from "../core/inventory.ts";
import { GROUP_NAME_PATTERN, MAX_AGENTS_PER_GROUP, RUNNER_AGENT_GROUP } from "../core/naming.ts";
import { shapeSchema, type Shape } from "../core/shapes.ts";
import type { CloudTarget } from "../core/defaults.ts";
import type { Cloud } from "../runtime/cloud.ts";
import { prepareScenarioImport } from "./scenario-import.ts";

const SCENARIO = Symbol.for("fieldtest.scenario");

/** One group of a scenario's fleet: how many agents, which image, what size. */
export interface GroupSpec {
  count: number;
  /**
   * An image alias (`su` → `dockerfiles/su.Dockerfile` of your project, or fieldtest's own `debian`),
   * or a published image reference containing `/` or `:` (`ghcr.io/org/node:1.2`). Default `debian`,
   * or `--image`.
   */
  image?: string;
  /** Cores and RAM (and disk on clouds): a cloud machine type that fits, or a container's limits. */
  shape?: Shape;
  /** An explicit machine type per cloud, which wins over the shape there. */
  machineType?: Partial<Record<CloudTarget, string>>;
}

/** Group name → group; agents are named `<group>-001`, `<group>-002`, … on every target. */
export type FleetSpec = Record<string, GroupSpec>;

/** A params schema: a zod object whose fields are the scenario's parameters (`--param k=v`). */
export type ParamsSchema = z.ZodObject;

export interface ScenarioDefinition<P extends ParamsSchema = z.ZodObject<{}>> {
  name: string;
  description?: string;
  /** What the scenario checks, in words; `fieldtest describe` prints them. */
  invariants?: readonly string[];
  /** How many agents the scenario wants when it declares no `fleet` (default 1). */
  agents?: number;
  /** Tezt cloud's word for `agents`; give one or the other. */
  vms?: number;
  /** The scenario's parameters; `run` receives them parsed, defaults applied. */
  params?: P;
  /** The fleet's groups, fixed or computed from the parameters. */
  fleet?: FleetSpec | ((params: z.output<P>) => FleetSpec);
  /** Where this scenario's Dockerfiles are, relative to the scenario file (default: a `dockerfiles/` beside it or above it). */
  dockerfiles?: string;
  run(cloud: Cloud, params: z.output<P>): Promise<void> | void;
}

/** A scenario as loaded: parameters and fleet are opaque until `scenarioParams` and `scenarioGroups` read them. */
export interface Scenario {
  readonly [SCENARIO]: true;
  readonly name: string;
  readonly description?: string;
  readonly invariants: readonly string[];
  readonly params?: ParamsSchema;
  readonly fleet?: FleetSpec | ((params: Record<string, unknown>) => FleetSpec);
  readonly dockerfiles?: string;
  /** The agent count of a scenario without `fleet`, when the command line does not say. */
  readonly agentCount: number;
  /** The file it was loaded from, when it was loaded from one: its Dockerfiles are looked for near it. */
  readonly path?: string;
  /** How the command line named it (`./scenarios/mine.ts`, `health`): what hints tell the user to type again. */
  readonly reference?: string;
  run(cloud: Cloud, params: Record<string, unknown>): Promise<void> | void;
}

const groupSpecSchema = z.strictObject({
  count: z.number().int().min(1, "must be at least 1").max(MAX_AGENTS_PER_GROUP, `must be at most ${MAX_AGENTS_PER_GROUP}`),
  image: z.string().min(1).optional(),
  shape: shapeSchema.optional(),
  machineType: z.strictObject({ gcp: z.string().min(1).optional(), aws: z.string().min(1).optional() }).optional(),
});

export const fleetSpecSchema = z
  .record(z.string().regex(GROUP_NAME_PATTERN, "group names are lowercase DNS labels such as unit or router"), groupSpecSchema)
  .refine((fleet) => Object.keys(fleet).length > 0, "declares no group")
  // Runners leave that group out of a scenario's agents: a scenario's own would vanish.
  .refine((fleet) => !(RUNNER_AGENT_GROUP in fleet), `group name ${RUNNER_AGENT_GROUP} is kept for the agent that runs detached runs: name the group otherwise`);

const definitionSchema = z
  .object({
    name: z.string().min(1, "name is empty"),
    description: z.string().optional(),
    invariants: z.array(z.string()).optional(),
    agents: z.number().int().positive().optional(),
    vms: z.number().int().positive().optional(),
    params: z.custom<ParamsSchema>((value) => isZodObject(value), "params must be a zod object, e.g. z.object({ units: z.number().default(2) })").optional(),
    fleet: z.union([z.custom<(p: unknown) => FleetSpec>((value) => typeof value === "function"), fleetSpecSchema]).optional(),
    dockerfiles: z.string().min(1).optional(),
    run: z.custom<ScenarioDefinition["run"]>((value) => typeof value === "function", "run must be a function (cloud, params) => …"),
  })
  .refine((d) => d.agents === undefined || d.vms === undefined, { message: "give agents or vms, not both", path: ["vms"] })
  .refine((d) => d.fleet === undefined || (d.agents === undefined && d.vms === undefined), { message: "give fleet or agents/vms, not both", path: ["fleet"] });

/** Duck-typed: a scenario's zod may be another copy than fieldtest's (a user's own dependency). */
function isZodObject(value: unknown): boolean {
  return typeof value === "object" && value !== null && typeof (value as z.ZodObject).safeParse === "function" && typeof (value as z.ZodObject).shape === "object";
}

/** Declares a scenario; a scenario file's default export is the result. */
export function defineScenario<P extends ParamsSchema = z.ZodObject<{}>>(definition: ScenarioDefinition<P>): Scenario {
  const parsed = definitionSchema.safeParse(definition);
  if (!parsed.success) throw new ScenarioError(`defineScenario: ${describeIssues(parsed.error)}`);
  return {
    ...(definition as unknown as Omit<Scenario, typeof SCENARIO | "agentCount" | "invariants">),
    invariants: definition.invariants ?? [],
    agentCount: definition.agents ?? definition.vms ?? 1,
    [SCENARIO]: true,
  };
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

export async function loadScenario(path: string, reference?: string): Promise<Scenario> {
  await prepareScenarioImport(path);
  const module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  if (!isScenario(module.default)) {
    throw new ScenarioError(`${path} does not export a scenario: write \`export default defineScenario({ name, run })\``);
  }
  return { ...module.default, path, ...(reference === undefined ? {} : { reference }) };
}

/**
 * Directories searched for a scenario's `<alias>.Dockerfile`, in order: the scenario's own
 * `dockerfiles` setting, a `dockerfiles/` beside the scenario file or its parent (a project's
 * `scenarios/` and `dockerfiles/` side by side), and the working directory's.
 */
export function scenarioDockerfileDirs(scenario: Scenario, cwd: string): string[] {
  const dirs: string[] = [];
  if (scenario.path) {
    const here = dirname(scenario.path);
    if (scenario.dockerfiles) dirs.push(resolve(here, scenario.dockerfiles));
    dirs.push(join(here, "dockerfiles"), join(dirname(here), "dockerfiles"));
  } else if (scenario.dockerfiles) {
    dirs.push(resolve(cwd, scenario.dockerfiles));
  }
  dirs.push(join(cwd, "dockerfiles"));
  return [...new Set(dirs)];
}
