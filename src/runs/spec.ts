import { readFile, writeFile } from "node:fs/promises";
import { z } from "zod";
import { describeIssues } from "../core/inventory.ts";
import { namespaceSchema } from "../core/namespace.ts";
import { NETWORK_MODES } from "../targets/docker-engine/network.ts";
import { RunInputError } from "./context.ts";

/**
 * One run, as data: what `fieldtest run` turns its flags into, what a detached run's parent
 * stages as run-spec.json for its runner, and what a program gives RunSession. Paths are
 * resolved against the RunContext's cwd.
 */

const positive = z.number().int().positive();

/** Where the fleet comes from; only a fleet made for the run (`localhost`) is the run's to remove. */
export const fleetSourceSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("localhost"),
    namespace: namespaceSchema,
    ttlSeconds: positive,
    portsPerAgent: positive,
    owner: z.string().min(1),
    network: z.enum(NETWORK_MODES).optional(),
    /** `--vms`, `--group name=N`, `--image`: the scenario's groups resized. */
    overrides: z
      .object({ vms: positive.optional(), counts: z.record(z.string(), positive).optional(), image: z.string().min(1).optional() })
      .strict()
      .default({}),
    limits: z.object({ maxVms: positive, maxCores: z.number().positive().optional(), maxRamGb: z.number().positive().optional() }).strict(),
  }).strict(),
  z.object({ kind: z.literal("namespace"), namespace: namespaceSchema, keyPath: z.string().min(1).optional() }).strict(),
  z.object({ kind: z.literal("inventory"), path: z.string().min(1), keyPath: z.string().min(1).optional() }).strict(),
]);

/**
 * What happens to the fleet after the run. `destroy` removes a fleet made for the run; `end-agents`
 * ends the inventory's agents from inside (a detached runner with no Docker socket); `keep` leaves
 * the agents running, with the run's daemons stopped.
 */
export const TEARDOWNS = ["destroy", "end-agents", "keep"] as const;
export type Teardown = (typeof TEARDOWNS)[number];

const websiteSchema = z
  .object({
    host: z.string().min(1).optional(),
    port: z.number().int().min(0).max(65535).optional(),
    auth: z.object({ username: z.string().min(1), password: z.string().min(1) }).strict().optional(),
    tls: z.object({ certPath: z.string().min(1), keyPath: z.string().min(1) }).strict().optional(),
    allowUnauthenticatedRemote: z.boolean().optional(),
  })
  .strict();

export const observationSchema = z
  .object({
    /** The run directory is `<runsDir>/<namespace>/<run id>`. */
    runsDir: z.string().min(1),
    /** Chosen by a detached run's parent, so it knows where to look. */
    runId: z.string().regex(/^[A-Za-z0-9._-]+$/).optional(),
    website: websiteSchema.optional(),
    prometheus: z
      .object({ host: z.string().optional(), port: z.number().int().min(0).max(65535), scrapeInterval: z.string().min(1), alertWebhook: z.string().optional(), binary: z.string().optional() })
      .strict()
      .optional(),
    monitoring: z.boolean().default(false),
    grafana: z.object({ image: z.string().min(1), port: z.number().int().min(0).max(65535) }).strict().optional(),
    daemonOutput: z.enum(["all", "errors", "none"]).default("all"),
    logCapBytes: positive.optional(),
    /** The runner shares the fleet's network: status.json records where an agent reaches the website. */
    fleetWebsite: z.union([z.literal(true), z.object({ via: z.string().min(1) }).strict()]).optional(),
  })
  .strict();

export const runSpecSchema = z
  .object({
    /** A scenario name (scenarios/<name>.ts of the package) or a path to a scenario file. */
    scenario: z.string().min(1),
    /** `--param` pairs, then values (`--params` file contents) under them; the scenario's schema checks both. */
    params: z
      .object({ pairs: z.array(z.string()).default([]), values: z.record(z.string(), z.unknown()).optional(), valuesSource: z.string().optional() })
      .strict()
      .default({ pairs: [] }),
    fleet: fleetSourceSchema,
    teardown: z.enum(TEARDOWNS),
    observation: observationSchema,
    limits: z
      .object({
        /** After the scenario: `false`, `true` (until stopped), or this many milliseconds at most. */
        keepAlive: z.union([z.boolean(), positive]).default(false),
        /** The linearizability checker's limit at the end of the run. */
        checkTimeLimitMs: positive.optional(),
        /** How long a stopped scenario may take to return before the teardown goes on without it. */
        stopGraceMs: z.number().int().min(0).default(10_000),
      })
      .strict()
      .prefault({}),
    /** Started by `run --detach`: nobody watches the console. */
    detached: z.boolean().default(false),
  })
  .strict();

export type RunSpec = z.output<typeof runSpecSchema>;
export type RunSpecInput = z.input<typeof runSpecSchema>;
export type FleetSource = RunSpec["fleet"];

/** A checked spec; RunInputError names the field, the value and what is wrong. */
export function parseRunSpec(input: unknown, source = "run spec"): RunSpec {
  const parsed = runSpecSchema.safeParse(input);
  if (!parsed.success) throw new RunInputError(`${source}: ${describeIssues(parsed.error)}`);
  const spec = parsed.data;
  if (spec.teardown === "destroy" && spec.fleet.kind !== "localhost") {
    throw new RunInputError(`${source}: teardown "destroy" is for a fleet made for the run (fleet.kind "localhost"), not "${spec.fleet.kind}"; use "keep"`);
  }
  return spec;
}

/** The spec a detached run's parent stages in the run directory for its runner. */
export const RUN_SPEC_FILE = "run-spec.json";

/** Owner-only: the spec may hold the website's password. */
export async function writeRunSpec(path: string, spec: RunSpec): Promise<void> {
  await writeFile(path, `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
}

/** A staged spec, checked as any other: RunInputError names the file and the field. */
export async function readRunSpec(path: string): Promise<RunSpec> {
  const text = await readFile(path, "utf8").catch((error: Error) => {
    throw new RunInputError(`run spec ${path} cannot be read: ${error.message}`);
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new RunInputError(`run spec ${path} is not JSON: ${(error as Error).message}`);
  }
  return parseRunSpec(json, path);
}
