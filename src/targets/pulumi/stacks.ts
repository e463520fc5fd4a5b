import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation/index.js";
import { parseInventory, type Inventory } from "../../core/inventory.ts";
import { parseExpiresAt } from "../../core/stack-config.ts";
import { LABELS, type Namespace } from "../../core/namespace.ts";
import { requirePulumiCli } from "./cli.ts";
import { pulumiCommand } from "./cli-version.ts";
import { disabledGcpApis, disabledGcpApisMessage } from "./gcp-apis.ts";
import { trackedKeys } from "./leftovers.ts";
import { expiryChange, expiryConfig, stackTags, type ExpiryChange, type StackConfigMap, type StackSummary } from "./plan.ts";

/**
 * fieldtest's Automation API layer: one stack per namespace (stack name = namespace) of the
 * project in the package root (`Pulumi.yaml`, stack files in `stacks/`). Every function here
 * runs the Pulumi CLI; the decisions around them are in plan.ts and tested there.
 */

export class PulumiOperationError extends Error {}

const EXPIRES_AT_KEY = "fieldtest:expiresAt";

/** A workspace on the fieldtest project, after checking that the CLI exists and is recent enough. */
export async function openWorkspace(projectDir: string, env: NodeJS.ProcessEnv, what: string, outcome = "Nothing was created."): Promise<LocalWorkspace> {
  const location = requirePulumiCli(env, what, outcome);
  const command = await pulumiCommand(location.root, location.path, outcome).catch((error: Error) => {
    throw new PulumiOperationError(error.message);
  });
  return LocalWorkspace.create({ workDir: projectDir, pulumiCommand: command, envVars: { PULUMI_SKIP_UPDATE_CHECK: "true" } });
}

/** What a fleet stack exports: the runtime's inventory and the namespace's client key. */
export interface StackFleet {
  inventory: Inventory;
  clientPrivateKey: string;
}

async function stackFleet(stack: Stack): Promise<StackFleet> {
  const outputs = await stack.outputs();
  const key = outputs["clientPrivateKey"]?.value;
  if (typeof key !== "string") throw new PulumiOperationError(`stack ${stack.name} has no clientPrivateKey output: was it made by \`fieldtest up --cloud\` from this project?`);
  return { inventory: parseInventory(outputs["inventory"]?.value, `the inventory output of stack ${stack.name}`), clientPrivateKey: key };
}

/** Pulumi's own error, or what to do about it when fieldtest knows (a GCP API not enabled). */
async function operation<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof PulumiOperationError) throw error;
    const message = (error as Error).message.trim();
    const disabled = disabledGcpApis(message);
    throw new PulumiOperationError(`${what} failed: ${disabled ? disabledGcpApisMessage(disabled) : message}`);
  }
}

export interface UpStackRequest {
  namespace: Namespace;
  /** Called once the stack is selected or created, before its config changes. */
  onSelected?: () => Promise<void>;
  config: StackConfigMap;
  tags: Record<string, string>;
  /** Pulumi's own progress, as the CLI prints it. */
  onOutput: (text: string) => void;
  /** Aborting cancels the update the way one Ctrl+C of `pulumi up` does. */
  signal?: AbortSignal;
}

/**
 * Selects the namespace's stack (creating it if needed), sets its fieldtest config and tags,
 * then runs `pulumi up`. The tags are set before the update so that a stack
 * whose update failed halfway still carries its expiry for `fieldtest reap`.
 */
export async function upStack(workspace: LocalWorkspace, request: UpStackRequest): Promise<StackFleet> {
  const stack = await operation(`creating or selecting stack ${request.namespace}`, () => Stack.createOrSelect(request.namespace, workspace));
  await request.onSelected?.();
  return configureAndUp(stack, request);
}

async function configureAndUp(stack: Stack, request: UpStackRequest): Promise<StackFleet> {
  await operation(`setting the config of stack ${request.namespace}`, () => stack.setAllConfig(request.config));
  for (const [key, value] of Object.entries(request.tags)) {
    await operation(`tagging stack ${request.namespace} with ${key}`, () => stack.setTag(key, value));
  }
  const { onOutput, signal } = request;
  await operation(`pulumi up of stack ${request.namespace}`, () => stack.up({ onOutput, ...(signal ? { signal } : {}) }));
  return stackFleet(stack);
}

export interface ExtendStackRequest {
  namespace: Namespace;
  /** As the user wrote it (`4h`), counted from `now`. */
  ttl: string;
  ttlSeconds: number;
  now: Date;
  /** Printed before the update, e.g. with describeExpiryChange: "extends TTL to …". */
  onPlan: (change: ExpiryChange) => void;
  onOutput: (text: string) => void;
  signal?: AbortSignal;
}

/**
 * `fieldtest extend --namespace ns --ttl 4h` for a namespace that is a Pulumi stack: moves the
 * stack's anchored `fieldtest:expiresAt` (and its tag) to `now + ttl`, then runs `pulumi up`,
 * which replaces the VMs, whose boot scripts carry the expiry. The stack's other config stays.
 */
export async function extendStackExpiry(workspace: LocalWorkspace, request: ExtendStackRequest): Promise<StackFleet & { expiry: ExpiryChange }> {
  const { namespace } = request;
  const stack = await operation(`selecting stack ${namespace}`, () => Stack.select(namespace, workspace));
  const stored = await operation(`reading the config of stack ${namespace}`, () => stack.getAllConfig());
  const previous = stored[EXPIRES_AT_KEY] ? parseExpiresAt(stored[EXPIRES_AT_KEY].value) : undefined;
  const expiry = expiryChange(previous, request.ttlSeconds, true, request.now);
  request.onPlan(expiry);
  const tags = await operation(`reading the tags of stack ${namespace}`, () => workspace.listTags(namespace));
  const fleet = await configureAndUp(stack, {
    namespace,
    config: expiryConfig(expiry.expiresAt, request.ttl),
    tags: stackTags({ namespace, owner: tags[LABELS.owner] ?? "unknown" }, expiry.expiresAt),
    onOutput: request.onOutput,
    ...(request.signal ? { signal: request.signal } : {}),
  });
  return { ...fleet, expiry };
}

/** The outputs of a namespace's stack, as the last `pulumi up` left them. */
export async function readStackFleet(workspace: LocalWorkspace, namespace: Namespace): Promise<StackFleet> {
  return operation(`reading the outputs of stack ${namespace}`, async () => stackFleet(await Stack.select(namespace, workspace)));
}

/**
 * `pulumi destroy`, then removes the stack. Its stack file stays in stacks/ for the next `up`,
 * without the anchored expiry: a fleet made again gets a lifetime of its own.
 */
export async function destroyStack(workspace: LocalWorkspace, namespace: Namespace, onOutput: (text: string) => void): Promise<void> {
  const stack = await operation(`selecting stack ${namespace}`, () => Stack.select(namespace, workspace));
  await operation(`pulumi destroy of stack ${namespace}`, () => stack.destroy({ onOutput }));
  await operation(`forgetting the expiry of stack ${namespace}`, () => stack.removeConfig(EXPIRES_AT_KEY));
  await operation(`removing stack ${namespace}`, () => workspace.removeStack(namespace, { preserveConfig: true }));
}

/** The project's stacks with their tags; those fieldtest made carry `fieldtest-namespace`. */
export async function listStacksWithTags(workspace: LocalWorkspace): Promise<StackSummary[]> {
  return operation("listing the stacks", async () => {
    const summaries = await workspace.listStacks();
    return Promise.all(
      summaries.map(async (summary) => ({
        name: summary.name,
        tags: await workspace.listTags(summary.name),
      })),
    );
  });
}

/** Everything the stacks' states hold, by id, name and self link (`pulumi stack export`). */
export async function stackResourceKeys(workspace: LocalWorkspace, stackNames: readonly string[]): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const name of stackNames) {
    const exported = await operation(`exporting stack ${name}`, () => workspace.exportStack(name));
    for (const key of trackedKeys(exported.deployment)) keys.add(key);
  }
  return keys;
}
