import { z } from "zod";
import { AGENT_SSH_PORT, DEFAULT_IMAGE, DEFAULT_MACHINE_TYPES, DEFAULT_MAX_VMS, DEFAULT_PORTS_PER_AGENT, HIGHEST_PORT, type CloudTarget } from "./defaults.ts";
import { publicKeySchema } from "./inventory.ts";
import { MAX_TTL_SECONDS, namespaceSchema, parseTtl, DEFAULT_TTL, type Namespace } from "./namespace.ts";
import { agentName, cloudResourceName, MAX_AGENTS_PER_GROUP, RUNNER_AGENT_GROUP } from "./naming.ts";
import { instanceTypeSchema } from "./shapes.ts";

/**
 * Stack configuration of the fieldtest Pulumi program. Parsing is a pure function of the
 * stack's config map so that every mistake is reported, naming its key, before the program
 * declares a single resource — and so that it can be tested without Pulumi.
 *
 * Nothing parsed here depends on the clock: the fleet's expiry is the absolute
 * `fieldtest:expiresAt` kept in the stack, so a second `pulumi up` with the same config declares
 * the same resources with the same inputs. The clock is passed in only to refuse an expiry that
 * has passed or lies too far ahead.
 */

/** GCP instance names and DNS labels are at most 63 characters. */
const MAX_RESOURCE_NAME_LENGTH = 63;

const PROVISIONED_TARGETS = ["gcp", "aws", "ssh"] as const;

const dnsLabel = z
  .string()
  .regex(/^[a-z]([a-z0-9-]*[a-z0-9])?$/, "must be lowercase letters, digits and '-', start with a letter and not end with '-'");

const agentGroupSchema = z.strictObject({
  name: dnsLabel,
  count: z.number().int().min(1).max(MAX_AGENTS_PER_GROUP),
  /** Default: the target's DEFAULT_MACHINE_TYPES entry. */
  machineType: z.string().min(1, "is empty: name a machine type such as e2-standard-2 (gcp) or t3.medium (aws), or leave it out").optional(),
  diskGb: z.number().int().min(10).max(10_000).default(20),
  image: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "must name a dockerfiles/<image>.Dockerfile").default(DEFAULT_IMAGE),
});
/** A group as parsed, its machine type resolved to the target's default when not given. */
export type AgentGroup = Omit<z.infer<typeof agentGroupSchema>, "machineType"> & { machineType: string };

const cidrSchema = z.cidrv4("must be an IPv4 CIDR such as 203.0.113.7/32");

/** `30005` or `30001-30010` (a single port may be a YAML number). */
const portsSchema = z
  .union([z.string(), z.number().int()])
  .transform(String)
  .pipe(z.string().regex(/^\d+(-\d+)?$/, "must be a port or a range such as 30001-30010"))
  .transform((text, ctx): [number, number] => {
    const [first, last = first] = text.split("-").map(Number) as [number, number?];
    if (first > last) {
      ctx.addIssue({ code: "custom", message: `"${text}" ends before it starts` });
      return z.NEVER;
    }
    return [first, last];
  });

/** An explicit opening of experiment ports to addresses outside the namespace. */
const openPortsSchema = z.strictObject({
  ports: portsSchema,
  protocol: z.enum(["tcp", "udp"]).default("tcp"),
  sourceRanges: z.array(cidrSchema).min(1, "must list at least one CIDR"),
});
export type OpenPorts = z.infer<typeof openPortsSchema>;

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

/** ISO 8601 (`2030-01-01T12:00:00Z`) or unix seconds, as `pulumi config set` stores either. */
const expiresAtSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const text = String(value).trim();
  const date = /^\d+$/.test(text) ? new Date(Number(text) * 1000) : z.iso.datetime({ offset: true }).safeParse(text).success ? new Date(text) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: "custom", message: `"${text}" is not a time: write an ISO 8601 time such as 2030-01-01T12:00:00Z, or unix seconds` });
    return z.NEVER;
  }
  return date;
});

/** A `fieldtest:expiresAt` value as a time, or an error saying how to write one. */
export function parseExpiresAt(value: unknown): Date {
  const result = expiresAtSchema.safeParse(value);
  if (!result.success) throw new StackConfigError(`fieldtest:expiresAt: ${result.error.issues.map((issue) => issue.message).join("; ")}`);
  return result.data;
}

const SET_EXPIRY = "`fieldtest up --cloud` sets it; with plain pulumi: pulumi config set fieldtest:expiresAt $(date -u -d +2h +%Y-%m-%dT%H:%M:%SZ)";
const SET_SOURCE_RANGES =
  'list who may reach sshd, e.g. `fieldtest up --cloud … --ssh-source-range 203.0.113.7/32`, or in the stack file fieldtest:sshSourceRanges: ["203.0.113.7/32"] (write 0.0.0.0/0 to open it to the whole internet)';

const rawConfigSchema = z.object({
  "fieldtest:target": z.enum(PROVISIONED_TARGETS, { message: `must be one of ${PROVISIONED_TARGETS.join(", ")}` }),
  "fieldtest:namespace": z.string().optional(),
  "fieldtest:owner": z.string().min(1).optional(),
  "fieldtest:ttl": ttlSchema,
  "fieldtest:expiresAt": expiresAtSchema.optional(),
  "fieldtest:agents": fromConfigText(z.array(agentGroupSchema)).optional(),
  "fieldtest:portsPerAgent": fromConfigText(
    z.number().int().min(1).max(HIGHEST_PORT - AGENT_SSH_PORT + 1, `must leave the port range inside ${AGENT_SSH_PORT}..${HIGHEST_PORT}`),
  ).default(DEFAULT_PORTS_PER_AGENT),
  "fieldtest:sshSourceRanges": fromConfigText(z.array(cidrSchema).min(1, `is empty: ${SET_SOURCE_RANGES}`)).optional(),
  "fieldtest:orchestratorRanges": fromConfigText(z.array(cidrSchema)).optional(),
  "fieldtest:openPorts": fromConfigText(z.array(openPortsSchema)).optional(),
  "fieldtest:sshHosts": fromConfigText(z.array(sshHostSchema)).optional(),
  "fieldtest:sshKnownHosts": z.string().min(1).optional(),
  "fieldtest:sshKeyPath": z.string().min(1).optional(),
  "fieldtest:sshPrivateKey": z.string().includes("PRIVATE KEY", { message: "must be an OpenSSH private key: pulumi config set --secret fieldtest:sshPrivateKey < ~/.ssh/id_ed25519" }).optional(),
  "fieldtest:image": z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "must name a dockerfiles/<image>.Dockerfile").optional(),
  "fieldtest:maxVms": fromConfigText(z.number().int().min(1)).default(DEFAULT_MAX_VMS),
  // The project's folders of <alias>.Dockerfile (relative to the Pulumi project), searched before fieldtest's own: `fieldtest up --cloud` writes them.
  "fieldtest:dockerfileDirs": fromConfigText(z.array(z.string().min(1, "is empty: name a folder of <image>.Dockerfile files"))).optional(),
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
  /** The lifetime `fieldtest:expiresAt` was anchored with. */
  ttlSeconds: number;
  /** When the fleet's current lifetime began: `expiresAt` − `ttl`. */
  createdAt: Date;
  /** The anchored expiry, `fieldtest:expiresAt`. */
  expiresAt: Date;
}

/** Who may reach what on a cloud fleet; every other port is closed to the outside. */
export interface Exposure {
  /** sshd (30000) and the ops door (22). */
  sshSourceRanges: string[];
  /** The runner's addresses: they reach every port of the agents' slices. */
  orchestratorRanges: string[];
  /** Ports the stack opens on purpose, beyond the namespace's own agents. */
  openPorts: OpenPorts[];
}

interface FleetConfig extends CommonConfig, Exposure {
  agents: AgentGroup[];
  portsPerAgent: number;
  /** The project's folders of Dockerfiles, searched before fieldtest's own, as the stack gives them. */
  dockerfileDirs: string[];
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
  /** Only to refuse an expiry that has passed or lies beyond the longest TTL; never lands in a resource. */
  now: Date;
  /** Used for the `fieldtest-owner` label when `fieldtest:owner` is not set. */
  defaultOwner: string;
  /** Image aliases with an `<alias>.Dockerfile` in these folders of the project or in fieldtest's `dockerfiles/`. */
  imageAliases: (projectDirs: readonly string[]) => readonly string[];
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
  const expiresAt = config["fieldtest:expiresAt"];
  problems.push(...expiryProblems(expiresAt, context.now));
  const common = (): CommonConfig => ({
    namespace: namespace.data as Namespace,
    owner: config["fieldtest:owner"] ?? context.defaultOwner,
    ttlSeconds: config["fieldtest:ttl"],
    createdAt: new Date(expiresAt!.getTime() - config["fieldtest:ttl"] * 1000),
    expiresAt: expiresAt!,
  });

  if (target === "ssh") {
    const sshHosts = config["fieldtest:sshHosts"];
    if (!sshHosts || sshHosts.length === 0) problems.push("fieldtest:sshHosts: required for target ssh: list the hosts as [{host, port, user}]");
    if (config["fieldtest:agents"]) problems.push("fieldtest:agents: not used by target ssh: each of fieldtest:sshHosts is one agent");
    for (const key of ["fieldtest:sshSourceRanges", "fieldtest:orchestratorRanges", "fieldtest:openPorts"] as const) {
      if (config[key] !== undefined) problems.push(`${key}: not used by target ssh: fieldtest does not manage the hosts' firewalls`);
    }
    sshHosts?.forEach((host, i) => {
      // Each host's agent is removed by namespace label on that host's engine: one host twice would remove both.
      if (sshHosts.findIndex((other) => other.host === host.host && other.port === host.port) < i) {
        problems.push(`fieldtest:sshHosts[${i}]: ${host.host}:${host.port} is listed twice; each host runs one agent, list it once`);
      }
    });
    if (sshHosts && sshHosts.length > config["fieldtest:maxVms"]) {
      problems.push(`fieldtest:sshHosts: ${sshHosts.length} agents exceed fieldtest:maxVms (${config["fieldtest:maxVms"]}), the guard against costly typos: list fewer hosts or raise fieldtest:maxVms`);
    }
    if (config["fieldtest:dockerfileDirs"] !== undefined) problems.push("fieldtest:dockerfileDirs: not used by target ssh: its hosts build fieldtest's own images (fieldtest:image)");
    const image = config["fieldtest:image"] ?? DEFAULT_IMAGE;
    const known = context.imageAliases([]);
    if (!known.includes(image)) problems.push(`fieldtest:image: no dockerfiles/${image}.Dockerfile; known images: ${known.join(", ")}`);
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
  const dockerfileDirs = config["fieldtest:dockerfileDirs"] ?? [];
  problems.push(...agentGroupProblems(config["fieldtest:agents"], config["fieldtest:maxVms"], namespace.data, { dirs: dockerfileDirs, aliases: context.imageAliases(dockerfileDirs) }));
  if (config["fieldtest:sshSourceRanges"] === undefined) problems.push(`fieldtest:sshSourceRanges: required for target ${target}, with no world-open default: ${SET_SOURCE_RANGES}`);
  const portRange = agentPortRange(config["fieldtest:portsPerAgent"]);
  (config["fieldtest:openPorts"] ?? []).forEach(({ ports: [first, last] }, i) => {
    if (first <= portRange[0] || last > portRange[1]) {
      problems.push(
        `fieldtest:openPorts[${i}].ports: ${first}-${last} is outside the agents' experiment ports ${portRange[0] + 1}-${portRange[1]} (sshd's ${AGENT_SSH_PORT} is opened by fieldtest:sshSourceRanges; raise fieldtest:portsPerAgent for more)`,
      );
    }
  });
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
    agents: (config["fieldtest:agents"] ?? []).map((group) => ({ ...group, machineType: group.machineType ?? DEFAULT_MACHINE_TYPES[target as CloudTarget] })),
    portsPerAgent: config["fieldtest:portsPerAgent"],
    sshSourceRanges: config["fieldtest:sshSourceRanges"]!,
    orchestratorRanges: config["fieldtest:orchestratorRanges"] ?? [],
    openPorts: config["fieldtest:openPorts"] ?? [],
    dockerfileDirs,
  };
  if (target === "gcp") {
    return { target, ...fleet, project: project!, zone: zone!, region: zone!.replace(/-[a-z]$/, "") };
  }
  return { target, ...fleet, region: region! };
}

function expiryProblems(expiresAt: Date | undefined, now: Date): string[] {
  if (expiresAt === undefined) return [`fieldtest:expiresAt: required, the fleet's absolute expiry, anchored once so that every \`pulumi up\` declares the same VMs: ${SET_EXPIRY}`];
  if (expiresAt <= now) {
    return [`fieldtest:expiresAt: ${expiresAt.toISOString()} has passed, so the fleet has expired: extend it (\`fieldtest up --cloud … --ttl 2h\`, or a later fieldtest:expiresAt), or \`pulumi destroy\` what is left`];
  }
  if (expiresAt.getTime() - now.getTime() > MAX_TTL_SECONDS * 1000) {
    return [`fieldtest:expiresAt: ${expiresAt.toISOString()} is more than ${MAX_TTL_SECONDS / 86400}d away, the longest TTL: set an earlier time`];
  }
  return [];
}

function agentGroupProblems(
  groups: Array<z.infer<typeof agentGroupSchema>> | undefined,
  maxVms: number,
  namespace: Namespace | undefined,
  images: { dirs: readonly string[]; aliases: readonly string[] },
): string[] {
  if (!groups || groups.length === 0) {
    return ['fieldtest:agents: required: list the agent groups, e.g. [{"name": "node", "count": 3}] (machineType defaults to e2-standard-2 on gcp, t3.medium on aws)'];
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  groups.forEach((group, i) => {
    if (seen.has(group.name)) problems.push(`fieldtest:agents[${i}].name: "${group.name}" is already the name of another group`);
    seen.add(group.name);
    if (group.name === RUNNER_AGENT_GROUP && group.count !== 1) {
      problems.push(`fieldtest:agents[${i}].count: group ${RUNNER_AGENT_GROUP} is the VM that runs detached runs, one at most: set its count to 1`);
    }
    if (!images.aliases.includes(group.image)) {
      const where = images.dirs.length ? `no ${group.image}.Dockerfile in ${images.dirs.join(", ")} or fieldtest's dockerfiles/` : `no dockerfiles/${group.image}.Dockerfile`;
      const fix = images.dirs.length ? `: add ${images.dirs[0]}/${group.image}.Dockerfile (it may start FROM fieldtest-agent:debian)` : "";
      problems.push(`fieldtest:agents[${i}].image: ${where}; known images: ${images.aliases.join(", ")}${fix}`);
    }
    const longestName = cloudResourceName(namespace ?? "", agentName(group.name, group.count - 1));
    if (namespace && longestName.length > MAX_RESOURCE_NAME_LENGTH) {
      problems.push(`fieldtest:agents[${i}].name: instance names such as ${longestName} exceed ${MAX_RESOURCE_NAME_LENGTH} characters: shorten the group name`);
    }
  });
  const total = groups.reduce((sum, group) => sum + group.count, 0);
  if (total > maxVms) {
    problems.push(`fieldtest:agents: ${total} agents exceed fieldtest:maxVms (${maxVms}), the guard against costly typos: lower the counts or raise fieldtest:maxVms`);
  }
  return problems;
}

/** First and last port of an agent on its own VM: sshd on the first. */
export function agentPortRange(portsPerAgent: number): [number, number] {
  return [AGENT_SSH_PORT, AGENT_SSH_PORT + portsPerAgent - 1];
}

/** One agent to provision: a VM of its group's shape running its group's image. */
export interface AgentPlan {
  /** The inventory's name, `node-001` (src/core/naming.ts). */
  name: string;
  /** The instance's and its Pulumi resources' name, `alice--node-001`. */
  resourceName: string;
  group: string;
  machineType: string;
  diskGb: number;
  image: string;
}

export function planAgents(groups: readonly AgentGroup[], namespace: Namespace): AgentPlan[] {
  return groups.flatMap((group) =>
    Array.from({ length: group.count }, (_, index) => ({
      name: agentName(group.name, index),
      resourceName: cloudResourceName(namespace, agentName(group.name, index)),
      group: group.name,
      machineType: group.machineType,
      diskGb: group.diskGb,
      image: group.image,
    })),
  );
}
