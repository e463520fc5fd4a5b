import { z } from "zod";
import { publicKeySchema } from "../src/core/inventory.ts";
import { instanceTypeSchema } from "../src/core/shapes.ts";
import { expiryAfter, namespaceSchema, parseTtl, DEFAULT_TTL, type Namespace } from "../src/core/namespace.ts";

/**
 * Stack configuration of the fieldtest Pulumi program. Parsing is a pure function of the
 * stack's config map so that every mistake is reported, naming its key, before the program
 * declares a single resource — and so that it can be tested without Pulumi.
 */

/** Every agent's sshd listens here; its experiment ports start here too. */
export const AGENT_SSH_PORT = 30000;
const HIGHEST_PORT = 65535;
/** Agent names end in a three-digit index. */
export const MAX_AGENTS_PER_GROUP = 1000;
/** GCP instance names and DNS labels are at most 63 characters. */
const MAX_AGENT_NAME_LENGTH = 63;

const PROVISIONED_TARGETS = ["gcp", "aws", "ssh"] as const;

const dnsLabel = z
  .string()
  .regex(/^[a-z]([a-z0-9-]*[a-z0-9])?$/, "must be lowercase letters, digits and '-', start with a letter and not end with '-'");

const agentGroupSchema = z.strictObject({
  name: dnsLabel,
  count: z.number().int().min(1).max(MAX_AGENTS_PER_GROUP),
  machineType: z.string().min(1, "is empty: name a machine type such as e2-standard-2 (gcp) or t3.medium (aws)"),
  diskGb: z.number().int().min(10).max(10_000).default(20),
  image: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "must name a dockerfiles/<image>.Dockerfile").default("debian"),
});
export type AgentGroup = z.infer<typeof agentGroupSchema>;

const sshHostSchema = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(HIGHEST_PORT).default(22),
  user: z.string().min(1).default("root"),
  /** The host's own SSH key, pinned; without it, the key is looked up in fieldtest:sshKnownHosts. */
  hostKey: publicKeySchema.optional(),
});
export type SshHost = z.infer<typeof sshHostSchema>;

/**
 * Pulumi hands structured and numeric values over as JSON text (`pulumi config set --path`
 * stores objects, `pulumi config set k 3` stores "3"); plain objects from tests are already decoded.
 */
function fromConfigText<T extends z.ZodType>(schema: T) {
  return z.preprocess((value, ctx) => {
    if (typeof value !== "string") return value;
    try {
      return JSON.parse(value);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: `is not a number, list or object (${(error as Error).message}): write it as YAML in the stack file` });
      return z.NEVER;
    }
  }, schema);
}

const ttlSchema = z.string().default(DEFAULT_TTL).transform((text, ctx) => {
  try {
    return parseTtl(text);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

const rawConfigSchema = z.object({
  "fieldtest:target": z.enum(PROVISIONED_TARGETS, { message: `must be one of ${PROVISIONED_TARGETS.join(", ")}` }),
  "fieldtest:namespace": z.string().optional(),
  "fieldtest:owner": z.string().min(1).optional(),
  "fieldtest:ttl": ttlSchema,
  "fieldtest:agents": fromConfigText(z.array(agentGroupSchema)).optional(),
  "fieldtest:portsPerAgent": fromConfigText(
    z.number().int().min(1).max(HIGHEST_PORT - AGENT_SSH_PORT + 1, `must leave the port range inside ${AGENT_SSH_PORT}..${HIGHEST_PORT}`),
  ).default(100),
  "fieldtest:sshSourceRanges": fromConfigText(z.array(z.cidrv4("must be an IPv4 CIDR such as 203.0.113.7/32")).min(1)).default(["0.0.0.0/0"]),
  "fieldtest:sshHosts": fromConfigText(z.array(sshHostSchema)).optional(),
  "fieldtest:sshKnownHosts": z.string().min(1).optional(),
  "fieldtest:sshKeyPath": z.string().min(1).optional(),
  "fieldtest:sshPrivateKey": z.string().includes("PRIVATE KEY", { message: "must be an OpenSSH private key: pulumi config set --secret fieldtest:sshPrivateKey < ~/.ssh/id_ed25519" }).optional(),
  "fieldtest:image": z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "must name a dockerfiles/<image>.Dockerfile").optional(),
  "fieldtest:maxVms": fromConfigText(z.number().int().min(1)).default(10),
  // Read by `fieldtest up --scenario` to turn shapes into machine types (src/core/shapes.ts); the program takes the types it chose.
  "fieldtest:instanceTypes": fromConfigText(z.array(instanceTypeSchema).min(1)).optional(),
  "gcp:project": z.string().min(1).optional(),
  "gcp:zone": z.string().regex(/^[a-z]+-[a-z]+\d+-[a-z]$/, "must be a zone such as europe-west1-b").optional(),
  "aws:region": z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be a region such as eu-west-1").optional(),
});

const KNOWN_FIELDTEST_KEYS = Object.keys(rawConfigSchema.shape).filter((key) => key.startsWith("fieldtest:"));

interface CommonConfig {
  namespace: Namespace;
  owner: string;
  ttlSeconds: number;
  createdAt: Date;
  expiresAt: Date;
}

interface FleetConfig extends CommonConfig {
  agents: AgentGroup[];
  portsPerAgent: number;
  sshSourceRanges: string[];
}

export interface GcpStackConfig extends FleetConfig {
  target: "gcp";
  project: string;
  zone: string;
  /** Derived from the zone: the Artifact Registry repository and the subnet live there. */
  region: string;
}

export interface AwsStackConfig extends FleetConfig {
  target: "aws";
  region: string;
}

export interface SshStackConfig extends CommonConfig {
  target: "ssh";
  sshHosts: SshHost[];
  portsPerAgent: number;
  image: string;
  /** OpenSSH known_hosts file for the hosts without a hostKey. */
  sshKnownHosts: string;
  /** The operator's key, which the hosts accept: the secret's value, else the file's. */
  sshPrivateKey: { secret: string } | { path: string };
}

export type StackConfig = GcpStackConfig | AwsStackConfig | SshStackConfig;

/** What the parser needs from outside the config map, passed in so that parsing stays pure. */
export interface StackContext {
  stackName: string;
  now: Date;
  /** Used for the `fieldtest-owner` label when `fieldtest:owner` is not set. */
  defaultOwner: string;
  /** Image aliases with a `dockerfiles/<alias>.Dockerfile`. */
  imageAliases: readonly string[];
  /** For the ssh target's defaults, `~/.ssh/known_hosts` and `~/.ssh/id_ed25519`. */
  homeDir?: string;
}

export class StackConfigError extends Error {}

/** `["fieldtest:agents", 0, "count"]` → `fieldtest:agents[0].count`. */
function configPath(path: readonly PropertyKey[]): string {
  const [key, ...rest] = path;
  return String(key ?? "(config)") + rest.map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`)).join("");
}

function fail(problems: string[]): never {
  throw new StackConfigError(`invalid fieldtest stack config:\n${problems.map((p) => `  ${p}`).join("\n")}`);
}

function unknownKeyProblems(raw: Record<string, unknown>): string[] {
  return Object.keys(raw)
    .filter((key) => key.startsWith("fieldtest:") && !KNOWN_FIELDTEST_KEYS.includes(key))
    .map((key) => `${key}: unknown key; known keys are ${KNOWN_FIELDTEST_KEYS.join(", ")}`);
}

/**
 * Parses the stack config map (`pulumi.runtime.allConfig()`: keys such as `fieldtest:agents`,
 * values as JSON text or already decoded). Keys of other namespaces are left to their providers,
 * except the few the program needs itself (`gcp:project`, `gcp:zone`, `aws:region`).
 */
export function parseStackConfig(raw: Record<string, unknown>, context: StackContext): StackConfig {
  const unknownKeys = unknownKeyProblems(raw);
  const parsed = rawConfigSchema.safeParse(raw);
  if (!parsed.success) {
    fail([...unknownKeys, ...parsed.error.issues.map((issue) => `${configPath(issue.path)}: ${issue.message}`)]);
  }
  const config = parsed.data;
  const problems = [...unknownKeys];

  const namespaceSource = config["fieldtest:namespace"] ?? context.stackName;
  const namespace = namespaceSchema.safeParse(namespaceSource);
  if (!namespace.success) {
    const origin = config["fieldtest:namespace"] === undefined ? `defaults to the stack name "${context.stackName}", which is invalid: set fieldtest:namespace or rename the stack; ` : "";
    problems.push(`fieldtest:namespace: ${origin}${namespace.error.issues.map((issue) => issue.message).join("; ")}`);
  }

  const target = config["fieldtest:target"];
  const common = (): CommonConfig => ({
    namespace: namespace.data as Namespace,
    owner: config["fieldtest:owner"] ?? context.defaultOwner,
    ttlSeconds: config["fieldtest:ttl"],
    createdAt: context.now,
    expiresAt: expiryAfter(config["fieldtest:ttl"], context.now),
  });

  if (target === "ssh") {
    const sshHosts = config["fieldtest:sshHosts"];
    if (!sshHosts || sshHosts.length === 0) problems.push("fieldtest:sshHosts: required for target ssh: list the hosts as [{host, port, user}]");
    if (config["fieldtest:agents"]) problems.push("fieldtest:agents: not used by target ssh: each of fieldtest:sshHosts is one agent");
    if (sshHosts && sshHosts.length > config["fieldtest:maxVms"]) {
      problems.push(`fieldtest:sshHosts: ${sshHosts.length} agents exceed fieldtest:maxVms (${config["fieldtest:maxVms"]}), the guard against costly typos: list fewer hosts or raise fieldtest:maxVms`);
    }
    const image = config["fieldtest:image"] ?? "debian";
    if (!context.imageAliases.includes(image)) problems.push(`fieldtest:image: no dockerfiles/${image}.Dockerfile; known images: ${context.imageAliases.join(", ")}`);
    if (config["fieldtest:sshPrivateKey"] !== undefined && config["fieldtest:sshKeyPath"] !== undefined) {
      problems.push("fieldtest:sshKeyPath: set either fieldtest:sshKeyPath or the secret fieldtest:sshPrivateKey, not both");
    }
    if (problems.length > 0) fail(problems);
    const home = context.homeDir ?? "~";
    const secretKey = config["fieldtest:sshPrivateKey"];
    return {
      target,
      ...common(),
      sshHosts: sshHosts ?? [],
      portsPerAgent: config["fieldtest:portsPerAgent"],
      image,
      sshKnownHosts: config["fieldtest:sshKnownHosts"] ?? `${home}/.ssh/known_hosts`,
      sshPrivateKey: secretKey !== undefined ? { secret: secretKey } : { path: config["fieldtest:sshKeyPath"] ?? `${home}/.ssh/id_ed25519` },
    };
  }

  if (config["fieldtest:sshHosts"]) problems.push(`fieldtest:sshHosts: only used by target ssh, not ${target}`);
  for (const key of ["fieldtest:sshKnownHosts", "fieldtest:sshKeyPath", "fieldtest:sshPrivateKey", "fieldtest:image"] as const) {
    if (config[key] !== undefined) problems.push(`${key}: only used by target ssh; ${target} agents take their image from fieldtest:agents[].image`);
  }
  problems.push(...agentGroupProblems(config["fieldtest:agents"], config["fieldtest:maxVms"], namespace.data, context.imageAliases));
  const project = config["gcp:project"];
  const zone = config["gcp:zone"];
  const region = config["aws:region"];
  if (target === "gcp") {
    if (!project) problems.push("gcp:project: required for target gcp: pulumi config set gcp:project <project-id>");
    if (!zone) problems.push("gcp:zone: required for target gcp: pulumi config set gcp:zone <zone, e.g. europe-west1-b>");
  } else if (!region) {
    problems.push("aws:region: required for target aws: pulumi config set aws:region <region, e.g. eu-west-1>");
  }
  if (problems.length > 0) fail(problems);

  const fleet: FleetConfig = {
    ...common(),
    agents: config["fieldtest:agents"] ?? [],
    portsPerAgent: config["fieldtest:portsPerAgent"],
    sshSourceRanges: config["fieldtest:sshSourceRanges"],
  };
  if (target === "gcp") {
    return { target, ...fleet, project: project!, zone: zone!, region: zone!.replace(/-[a-z]$/, "") };
  }
  return { target, ...fleet, region: region! };
}

function agentGroupProblems(
  groups: AgentGroup[] | undefined,
  maxVms: number,
  namespace: Namespace | undefined,
  imageAliases: readonly string[],
): string[] {
  if (!groups || groups.length === 0) {
    return ['fieldtest:agents: required: list the agent groups, e.g. [{"name": "node", "count": 3, "machineType": "e2-standard-2"}]'];
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  groups.forEach((group, i) => {
    if (seen.has(group.name)) problems.push(`fieldtest:agents[${i}].name: "${group.name}" is already the name of another group`);
    seen.add(group.name);
    if (!imageAliases.includes(group.image)) {
      problems.push(`fieldtest:agents[${i}].image: no dockerfiles/${group.image}.Dockerfile; known images: ${imageAliases.join(", ")}`);
    }
    const longestName = agentName(namespace ?? "", group.name, group.count - 1);
    if (namespace && longestName.length > MAX_AGENT_NAME_LENGTH) {
      problems.push(`fieldtest:agents[${i}].name: agent names such as ${longestName} exceed ${MAX_AGENT_NAME_LENGTH} characters: shorten the group name`);
    }
  });
  const total = groups.reduce((sum, group) => sum + group.count, 0);
  if (total > maxVms) {
    problems.push(`fieldtest:agents: ${total} agents exceed fieldtest:maxVms (${maxVms}), the guard against costly typos: lower the counts or raise fieldtest:maxVms`);
  }
  return problems;
}

/** `<ns>-<group>-<NNN>`: the cloud instance name and the inventory agent name. */
export function agentName(namespace: string, group: string, index: number): string {
  return `${namespace}-${group}-${String(index).padStart(3, "0")}`;
}

/** First and last port of an agent on its own VM: sshd on the first. */
export function agentPortRange(portsPerAgent: number): [number, number] {
  return [AGENT_SSH_PORT, AGENT_SSH_PORT + portsPerAgent - 1];
}

/** One agent to provision: a VM of its group's shape running its group's image. */
export interface AgentPlan {
  name: string;
  group: string;
  machineType: string;
  diskGb: number;
  image: string;
}

export function planAgents(groups: readonly AgentGroup[], namespace: Namespace): AgentPlan[] {
  return groups.flatMap((group) =>
    Array.from({ length: group.count }, (_, index) => ({
      name: agentName(namespace, group.name, index),
      group: group.name,
      machineType: group.machineType,
      diskGb: group.diskGb,
      image: group.image,
    })),
  );
}
