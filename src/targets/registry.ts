import type { Namespace } from "../core/namespace.ts";
import { namespaceContainers } from "./docker-engine/provisioner.ts";
import { DockerUnavailableError } from "./docker-engine/docker.ts";
import type { BackendKind, FleetBackend } from "./target.ts";
import { FleetInputError, namespaceState, type BackendContext } from "./context.ts";
import { availableDocker, LocalhostBackend } from "./localhost/target.ts";
import { PulumiStackBackend } from "./pulumi/pulumi-stack.ts";
import { describeHosts, SshHostsBackend } from "./ssh-hosts/target.ts";

/**
 * The one place that decides what a namespace is, from its record in the state directory:
 * `pulumi-stack.json` makes it a Pulumi stack, `ssh-fleet.json` a fleet on SSH hosts, and no
 * record a fleet on this machine's Docker engine.
 */
export async function openBackend(context: BackendContext, namespace: Namespace): Promise<FleetBackend> {
  const state = namespaceState(context, namespace);
  const [stack, sshFleet] = await Promise.all([state.readPulumiStack(), state.readSshFleet()]);
  if (stack && sshFleet) {
    throw new Error(`namespace ${namespace} has both ${state.pulumiStackPath} and ${state.sshFleetPath}: remove the one that is stale`);
  }
  if (stack) return new PulumiStackBackend(context, namespace, stack);
  if (sshFleet) return new SshHostsBackend(context, namespace, sshFleet);
  return new LocalhostBackend(context, namespace);
}

const WHAT: Record<BackendKind, string> = {
  localhost: "this machine's Docker engine",
  ssh: "SSH hosts",
  pulumi: "a Pulumi stack",
};

/**
 * Refuses (bad input, before anything is made) to create agents of one kind in a namespace that
 * is another kind: its teardown would otherwise act on the other fleet. A namespace of the same
 * kind passes; the provisioner refuses one that already has agents.
 */
export async function claimNamespace(context: BackendContext, namespace: Namespace, kind: BackendKind): Promise<void> {
  const backend = await openBackend(context, namespace);
  const refuse = (what: string) =>
    new FleetInputError(`namespace ${namespace} ${what}: \`fieldtest destroy --namespace ${namespace}\` first, or choose another namespace`);
  if (backend instanceof PulumiStackBackend && kind !== "pulumi") throw refuse("is a Pulumi stack");
  if (backend instanceof SshHostsBackend && kind !== "ssh") throw refuse(`holds agents on SSH hosts (${describeHosts(backend.record)})`);
  if (backend instanceof LocalhostBackend && kind !== "localhost" && (await hasLocalContainers(context, namespace))) {
    throw refuse(`has agents on ${WHAT.localhost}, and ${WHAT[kind]} cannot hold it too`);
  }
}

/** Whether this machine's engine has containers of the namespace; without an engine, there are none. */
async function hasLocalContainers(context: BackendContext, namespace: Namespace): Promise<boolean> {
  try {
    return (await namespaceContainers(await availableDocker(context), namespace)).length > 0;
  } catch (error) {
    if (error instanceof DockerUnavailableError) return false;
    throw error;
  }
}
