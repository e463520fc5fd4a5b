// The flags that describe a fleet (run, up), read into the requests of the targets: loaded by
// those commands only, as it reaches the scenario loader, the targets and the network modes.
import { join } from "node:path";
import { DEFAULT_MAX_VMS } from "../core/defaults.ts";
import { resolveSpecScenario as resolveRunScenario } from "../runs/session.ts";
import { scenarioDockerfileDirs } from "../scenario/scenario.ts";
import { NETWORK_MODES, type NetworkMode } from "../targets/docker-engine/network.ts";
import { parseSshHost, type SshHost } from "../targets/ssh-hosts/host-spec.ts";
import type { CloudFlags } from "./cloud.ts";
import { type CliContext, UsageError } from "./context.ts";
import { flagOf, generatedNamespace, namespaceOption, ownerName, portsPerAgentOption, ttlOption } from "./options.ts";
import type { FleetSource } from "./run.ts";
import { cloudGroups, fleetGroups, planLimits, scenarioArguments, scenarioParams, type ScenarioFlags } from "./scenario-options.ts";

export interface UpFlags extends CloudFlagsInput {
  localhost?: boolean;
  sshHost: string[];
  sshKey: string;
  sshKnownHosts: string;
  cloud?: string;
  dryRun?: boolean;
  replaceVms?: boolean;
}

type CloudFlagsInput = Omit<CloudFlags, "cloud" | "vms">;

export interface FleetFlags extends ScenarioFlags {
  namespace?: string;
  ttl?: string;
  portsPerAgent?: string;
  network?: string;
  json?: boolean;
  maxVms?: string;
  maxCores?: string;
  maxRamGb?: string;
}

function networkOption(value: string): NetworkMode {
  if (!(NETWORK_MODES as readonly string[]).includes(value)) throw new UsageError(`--network "${value}": use own (an address per agent) or host (the host's network)`);
  return value as NetworkMode;
}

export function sshHostOption(text: string): SshHost {
  try {
    return parseSshHost(text);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function localFleet(context: CliContext, flags: FleetFlags, namespace: string) {
  return {
    namespace,
    ttlSeconds: ttlOption(flags.ttl),
    portsPerAgent: portsPerAgentOption(flags.portsPerAgent),
    owner: ownerName(context.env),
    ...(flags.network === undefined ? {} : { network: networkOption(flags.network) }),
  };
}

/** `up --scenario`: the scenario's groups for these parameters and overrides, and where its Dockerfiles are. */
export async function declaredFleet(context: CliContext, flags: FleetFlags & { scenario?: string }) {
  if (flags.scenario === undefined) {
    if (flags.param?.length || flags.params !== undefined) throw new UsageError("--param and --params need --scenario <scenario>: parameters belong to a scenario");
    return undefined;
  }
  const scenario = await resolveRunScenario(context, flags.scenario);
  const args = scenarioArguments({ ...flags, group: (flags.group ?? []).filter((spec) => spec.includes("=") || !spec.includes(":")) });
  if (flags.group?.some((spec) => !spec.includes("=") && spec.includes(":"))) {
    throw new UsageError("--group name:count:type does not go with --scenario: the scenario declares its groups; override a count with --group <name>=<count>");
  }
  const groups = fleetGroups(scenario, await scenarioParams(scenario, args), args.overrides);
  return { groups, dockerfileDirs: scenarioDockerfileDirs(scenario, context.cwd) };
}

export function cloudGroupsFor(cloud: string, groups: Parameters<typeof cloudGroups>[0], table: Parameters<typeof cloudGroups>[2]) {
  if (cloud !== "gcp" && cloud !== "aws") return undefined;
  return cloudGroups(groups, cloud, table);
}

export function fleetSource(context: CliContext, flags: FleetFlags & { localhost?: boolean; inventory?: string; sshKey?: string; keep?: boolean; keepDaemons?: boolean }): FleetSource {
  if (flags.localhost && flags.inventory) throw new UsageError("--localhost and --inventory exclude each other: a run either makes its fleet or uses a given one");
  if (flags.keep && !flags.localhost) throw new UsageError("--keep only applies with --localhost (other fleets are never removed by run)");
  if (flags.keepDaemons && !flags.localhost) throw new UsageError("--keep-daemons only applies with --localhost (it keeps a fleet made for the run, daemons running)");
  if (flags.localhost) {
    const namespace = namespaceOption(flags.namespace, context.env) ?? generatedNamespace();
    const keep = flags.keepDaemons ? "daemons-running" : Boolean(flags.keep);
    return { kind: "localhost", request: localFleet(context, flags, namespace), limits: planLimits(flags, DEFAULT_MAX_VMS), keep };
  }
  const fleetOnly = (["vms", "image", "maxCores", "maxRamGb"] as const).find((flag) => flags[flag] !== undefined) ?? (flags.group?.length ? "group" : undefined);
  if (fleetOnly) throw new UsageError(`${flagOf(fleetOnly)} only applies with --localhost: an existing fleet has the agents it has`);
  if (flags.inventory) return { kind: "inventory", path: flags.inventory, keyPath: flags.sshKey };
  const namespace = namespaceOption(flags.namespace, context.env);
  if (!namespace) throw new UsageError("run needs a fleet: --localhost to create one, --namespace <name> to use a live one, or --inventory <file>");
  return { kind: "namespace", namespace, keyPath: flags.sshKey };
}
