import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { relative, resolve, isAbsolute } from "node:path";
import { z } from "zod";
import { namespaceSchema } from "./namespace.ts";
import { DEFAULT_GROUP, GROUP_NAME_PATTERN, RUNNER_AGENT_GROUP, parseAgentName } from "./naming.ts";

/**
 * The inventory is the only contract between provisioning (localhost, Pulumi programs,
 * SSH hosts) and the runtime: whatever produced it, the runtime needs nothing else.
 */
export const TARGETS = ["localhost", "gcp", "aws", "ssh"] as const;
export const targetSchema = z.enum(TARGETS);
export type Target = z.infer<typeof targetSchema>;

const port = z.number().int().min(1).max(65535);

/** RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens, 253 characters at most. */
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** A host name or an IP address: hosts end up in known_hosts lines and ssh commands, so nothing else may pass. */
export function isHostnameOrIp(host: string): boolean {
  return isIP(host) !== 0 || HOSTNAME.test(host);
}

// An empty host keeps zod's own "too small" message; the refinement speaks only of a malformed one.
const hostSchema = z
  .string()
  .min(1)
  .refine((host) => host === "" || isHostnameOrIp(host), "must be a host name or an IP address, such as 10.0.0.5 or agent-1.example.org");

/** An OpenSSH public key line: `ssh-ed25519 AAAA… [comment]`. */
export const publicKeySchema = z
  .string()
  .regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+=*( .*)?$/, "hostKey must be an OpenSSH public key line such as 'ssh-ed25519 AAAA…'");

export const agentSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "agent name must be a lowercase DNS label"),
    host: hostSchema,
    /** Address other agents use to reach this one, when it differs from `host` (cloud private IPs). */
    internalHost: hostSchema.optional(),
    sshPort: port,
    user: z.string().regex(/^[A-Za-z_][A-Za-z0-9._-]*$/, "user must be a login name (letters, digits, '.', '_', '-')"),
    hostKey: publicKeySchema,
    portRange: z.tuple([port, port]),
    labels: z.record(z.string(), z.string()).default({}),
    /** The fleet group the agent belongs to (src/core/naming.ts); one-group fleets use `agent`. */
    group: z.string().regex(GROUP_NAME_PATTERN, "group must be a lowercase DNS label").optional(),
    /**
     * A directory of the runner's machine that the agent mounts read-only (localhost agents):
     * copies pass through it instead of SSH. Unusable from another machine; copies then use SSH.
     */
    inbox: z.object({ hostPath: z.string().min(1), agentPath: z.string().min(1) }).optional(),
  })
  .refine((a) => a.portRange[0] <= a.portRange[1], { message: "portRange must be [first, last] with first ≤ last", path: ["portRange"] });

export const inventorySchema = z
  .object({
    namespace: namespaceSchema,
    target: targetSchema,
    createdAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    agents: z.array(agentSchema),
  })
  .superRefine((inv, ctx) => {
    const seen = new Set<string>();
    inv.agents.forEach((agent, i) => {
      if (seen.has(agent.name)) {
        ctx.addIssue({ code: "custom", message: `agent name "${agent.name}" appears twice`, path: ["agents", i, "name"] });
      }
      seen.add(agent.name);
    });
  });

export type Inventory = z.infer<typeof inventorySchema>;
export type AgentSpec = z.infer<typeof agentSchema>;

/** The agent's group: the inventory's, else the one its name encodes. */
export function agentGroup(agent: Pick<AgentSpec, "name" | "group">): string {
  return agent.group ?? parseAgentName(agent.name)?.group ?? DEFAULT_GROUP;
}

/** The fleet's runner agent (group `orchestrator`), if it has one. */
export function runnerAgent(inventory: Inventory): AgentSpec | undefined {
  return inventory.agents.find((agent) => agentGroup(agent) === RUNNER_AGENT_GROUP);
}

/** The agents a scenario runs on: all but the runner agent, which only runs detached runners. */
export function scenarioInventory(inventory: Inventory): Inventory {
  return { ...inventory, agents: inventory.agents.filter((agent) => agentGroup(agent) !== RUNNER_AGENT_GROUP) };
}

/** A readable one-line-per-problem rendering of a zod error, each naming its field. */
export function describeIssues(error: z.ZodError, root = ""): string {
  return error.issues
    .map((issue) => {
      const path = [root, ...issue.path.map(String)].filter(Boolean).join(".");
      return `${path || "(root)"}: ${issue.message}`;
    })
    .join("\n");
}

export class InventoryError extends Error {}

export function parseInventory(value: unknown, source = "inventory"): Inventory {
  const result = inventorySchema.safeParse(value);
  if (!result.success) {
    throw new InventoryError(`${source} is not a valid fieldtest inventory:\n${describeIssues(result.error, "inventory")}`);
  }
  return result.data;
}

/**
 * An inventory file from elsewhere must not choose directories of this machine for copies to
 * write into (copy hard-links files into an agent's inbox): inboxes outside `trustedRoot`
 * (the state directory, where fieldtest makes them) are dropped; those agents copy over SSH.
 */
export function withTrustedInboxes(inventory: Inventory, trustedRoot: string): { inventory: Inventory; ignored: string[] } {
  const ignored: string[] = [];
  const agents = inventory.agents.map((agent) => {
    if (!agent.inbox) return agent;
    const inside = relative(resolve(trustedRoot), resolve(agent.inbox.hostPath));
    if (inside !== "" && !inside.startsWith("..") && !isAbsolute(inside)) return agent;
    ignored.push(agent.name);
    const { inbox: _ignored, ...rest } = agent;
    return rest;
  });
  return { inventory: { ...inventory, agents }, ignored };
}

export async function readInventoryFile(path: string): Promise<Inventory> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new InventoryError(`inventory file ${path} cannot be read: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InventoryError(`inventory file ${path} is not JSON: ${(error as Error).message}`);
  }
  return parseInventory(json, `inventory file ${path}`);
}
