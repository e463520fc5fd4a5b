import { readFile } from "node:fs/promises";
import { z } from "zod";
import type { Scenario } from "./scenario.ts";

/**
 * A scenario's parameters from the command line (`--param k=v`, `--params file.json`) or from a
 * program: text values are read by the type the schema declares for them, then the schema
 * checks everything, so each problem names its parameter and the rule it broke.
 */

export class ParamsError extends Error {}

export interface ParamsInput {
  /** `name=value` pairs, as `--param` gives them; later ones win, and win over the file. */
  pairs?: readonly string[];
  /** Values already decoded, e.g. a `--params` file. */
  values?: Record<string, unknown>;
  /** Where `values` came from, for messages (`--params run.json`). */
  valuesSource?: string;
}

interface ParamJsonSchema {
  type?: string | string[];
  default?: unknown;
  description?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  anyOf?: ParamJsonSchema[];
  items?: ParamJsonSchema;
}

function propertySchemas(schema: z.ZodObject): Record<string, ParamJsonSchema> {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as { properties?: Record<string, ParamJsonSchema> };
  return json.properties ?? {};
}

function typesOf(schema: ParamJsonSchema): string[] {
  if (schema.anyOf) return schema.anyOf.flatMap(typesOf);
  if (Array.isArray(schema.type)) return schema.type;
  return schema.type ? [schema.type] : [];
}

/** `"3"` → 3 for a number, `"true"` → true for a boolean, JSON for lists and objects; a string stays. */
function coerce(text: string, schema: ParamJsonSchema | undefined): unknown {
  const types = schema ? typesOf(schema) : [];
  if (types.includes("string")) return text;
  if ((types.includes("number") || types.includes("integer")) && /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text.trim())) return Number(text);
  if (types.includes("boolean") && (text === "true" || text === "false")) return text === "true";
  if ((types.includes("array") || types.includes("object")) && /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  // Left as text: the schema's own message then says what it expected.
  return text;
}

function knownNames(scenario: Scenario): string[] {
  return scenario.params ? Object.keys(scenario.params.shape) : [];
}

function unknownParam(scenario: Scenario, name: string, flag: string): ParamsError {
  const names = knownNames(scenario);
  return new ParamsError(
    `${flag} ${name}: scenario ${scenario.name} has no parameter "${name}"; ${names.length ? `its parameters are ${names.join(", ")}` : "it takes no parameters"} (fieldtest describe ${scenario.name})`,
  );
}

/** The scenario's parameters, defaults applied; a wrong name or value throws ParamsError naming it. */
export function parseScenarioParams(scenario: Scenario, input: ParamsInput = {}): Record<string, unknown> {
  const names = new Set(knownNames(scenario));
  const schemas = scenario.params ? propertySchemas(scenario.params) : {};
  const raw: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(input.values ?? {})) {
    if (!names.has(name)) throw unknownParam(scenario, name, input.valuesSource ?? "params");
    raw[name] = value;
  }
  for (const pair of input.pairs ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new ParamsError(`--param "${pair}" is not name=value, e.g. --param units=3`);
    const name = pair.slice(0, eq);
    if (!names.has(name)) throw unknownParam(scenario, name, "--param");
    raw[name] = coerce(pair.slice(eq + 1), schemas[name]);
  }
  if (!scenario.params) return {};
  const parsed = scenario.params.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = issue.path.map(String).join(".") || "(params)";
      const given = issue.path.length ? valueAt(raw, issue.path) : raw;
      return `parameter ${name}${given === undefined ? "" : ` = ${JSON.stringify(given)}`}: ${issue.message}`;
    });
    throw new ParamsError(`bad parameters for scenario ${scenario.name}:\n  ${lines.join("\n  ")}`);
  }
  return parsed.data as Record<string, unknown>;
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>((current, key) => (current !== null && typeof current === "object" ? (current as Record<PropertyKey, unknown>)[key] : undefined), value);
}

/** A `--params` file: a JSON object of parameter values. */
export async function readParamsFile(path: string): Promise<Record<string, unknown>> {
  const text = await readFile(path, "utf8").catch((error: Error) => {
    throw new ParamsError(`--params ${path} cannot be read: ${error.message}`);
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ParamsError(`--params ${path} is not JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new ParamsError(`--params ${path} must hold a JSON object such as {"units": 3}`);
  return value as Record<string, unknown>;
}

/** One parameter as `describe` shows it. */
export interface ParamDoc {
  name: string;
  type: string;
  required: boolean;
  default?: unknown;
  description?: string;
  /** The schema's bounds and choices, in words: `≥ 1`, `one of a, b`. */
  rules: string[];
}

export function describeParams(scenario: Scenario): ParamDoc[] {
  if (!scenario.params) return [];
  const schemas = propertySchemas(scenario.params);
  const shape = scenario.params.shape as Record<string, z.ZodType>;
  return Object.keys(shape).map((name) => {
    const schema = schemas[name] ?? {};
    const rules: string[] = [];
    if (schema.enum) rules.push(`one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`);
    if (schema.minimum !== undefined) rules.push(`≥ ${schema.minimum}`);
    if (schema.exclusiveMinimum !== undefined) rules.push(`> ${schema.exclusiveMinimum}`);
    if (schema.maximum !== undefined && Number.isSafeInteger(schema.maximum) && schema.maximum < Number.MAX_SAFE_INTEGER) rules.push(`≤ ${schema.maximum}`);
    if (schema.exclusiveMaximum !== undefined) rules.push(`< ${schema.exclusiveMaximum}`);
    if (schema.minLength !== undefined) rules.push(`at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined) rules.push(`at most ${schema.maxLength} characters`);
    const optional = shape[name]!.safeParse(undefined).success;
    const description = schema.description ?? shape[name]!.description;
    return {
      name,
      type: typesOf(schema).join(" | ") || "any",
      required: !optional,
      ...(schema.default !== undefined ? { default: schema.default } : {}),
      ...(description ? { description } : {}),
      rules,
    };
  });
}
