import { LABELS, namespaceSchema, type Namespace } from "../core/namespace.ts";
import type { LabelledContainer } from "./docker-engine/labels.ts";
import { namespaceContainers, reapLocalhost, type ReapScope } from "./docker-engine/provisioner.ts";
import { formatSshHost } from "./ssh-hosts/host-spec.ts";
import { namespacesInState, stateHome } from "./state.ts";
import { containerName } from "./docker-engine/containers.ts";
import { namespaceState, type BackendContext } from "./context.ts";
import { availableDocker } from "./localhost/target.ts";
import { openBackend } from "./registry.ts";
import { reapStacks, type StackReap } from "./pulumi/pulumi-stack.ts";
import { SshHostsBackend } from "./ssh-hosts/target.ts";

export interface ReapedContainer {
  namespace: string;
  agent: string;
  /** `localhost`, or the SSH host it was on. */
  where: string;
}

export interface ReapReport {
  dryRun: boolean;
  expired: ReapedContainer[];
  stacks: StackReap;
  /** Namespaces whose fleet expired and is gone, and whose state directory was (or would be) removed. */
  states: string[];
  /** SSH hosts that could not be reaped, and why. */
  unreachable: Array<{ host: string; error: string }>;
}

export interface ReapRequest {
  now: Date;
  dryRun: boolean;
  /** Only this owner's containers (`--owner`); every owner's when unset. */
  scope: ReapScope;
}

function reaped(containers: readonly LabelledContainer[], where: string): ReapedContainer[] {
  return containers.map((c) => ({ namespace: c.Labels[LABELS.namespace] ?? "", agent: containerName(c), where }));
}

/**
 * Removes what has expired everywhere this machine knows of: containers of its own engine, of
 * the SSH hosts its namespaces record (each host once), the expired Pulumi stacks, and then the
 * state directories of namespaces that expired and have nothing left.
 */
export async function reapEverything(context: BackendContext & { cwd: string }, request: ReapRequest): Promise<ReapReport> {
  const { now, dryRun, scope } = request;
  const docker = await availableDocker(context);
  const expired: ReapedContainer[] = [];
  // Removed by this reap (or, dry, that would be): they count as gone below.
  const gone = new Set<string>();
  const unreachable: ReapReport["unreachable"] = [];

  const namespaces = (await namespacesInState(stateHome(context.env))).filter((name): name is Namespace => namespaceSchema.safeParse(name).success);
  const backends = await Promise.all(namespaces.map((namespace) => openBackend(context, namespace)));
  const seenHosts = new Set<string>();
  for (const backend of backends) {
    if (!(backend instanceof SshHostsBackend)) continue;
    const hosts = backend.record.hosts.map(formatSshHost).filter((host) => !seenHosts.has(host));
    if (hosts.length === 0) continue;
    hosts.forEach((host) => seenHosts.add(host));
    try {
      const removed = await backend.reapHosts(now, dryRun, scope, hosts);
      removed.forEach((c) => gone.add(c.Id));
      expired.push(...reaped(removed, hosts.join(", ")));
    } catch (error) {
      unreachable.push({ host: hosts.join(", "), error: (error as Error).message });
    }
  }

  // After the hosts: one of them may be this machine, whose containers are then reported as theirs.
  const local = (await reapLocalhost(docker, now, dryRun, scope)).filter((c) => !gone.has(c.Id));
  local.forEach((c) => gone.add(c.Id));
  expired.push(...reaped(local, "localhost"));

  const stacks = await reapStacks(context, now, dryRun);
  const states: string[] = [];
  for (const backend of backends) {
    if (backend.kind === "pulumi") continue;
    const state = namespaceState(context, backend.namespace);
    const expiresAt = await state.readExpiry();
    if (!expiresAt || expiresAt > now) continue;
    const left = backend instanceof SshHostsBackend ? await backend.remainingContainers().catch(() => undefined) : await namespaceContainers(docker, backend.namespace);
    // Unreachable hosts may still hold agents: their state (the key that reaches them) stays.
    if (left === undefined || left.some((c) => !gone.has(c.Id))) continue;
    if (dryRun) {
      states.push(backend.namespace);
      continue;
    }
    // The local state goes only once the hosts' is gone: it is what reaches them.
    if (backend instanceof SshHostsBackend && !(await backend.removeHostState().then(() => true, () => false))) continue;
    await state.remove();
    states.push(backend.namespace);
  }
  return { dryRun, expired, stacks, states, unreachable };
}
