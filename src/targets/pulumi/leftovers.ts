import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { LABELS } from "../../core/namespace.ts";
import { findExecutable } from "../../core/executables.ts";

/**
 * Leftovers: VMs labelled with a fieldtest namespace that no stack tracks any more (a stack
 * removed with `--force`, a state file lost, a destroy that failed halfway). They are listed,
 * never deleted: a resource no stack knows is not one fieldtest can prove is its own to remove.
 * The clouds are asked through their own CLIs (gcloud, aws), when installed.
 */

export interface LabelledInstance {
  cloud: "gcp" | "aws";
  name: string;
  namespace: string;
  /** `project/zone` on GCP, the region on AWS. */
  where: string;
  state: string;
  /** Every identifier a Pulumi state may record for it: the resource id, its name, its self link. */
  keys: string[];
}

/** Instances whose keys no stack's state holds. */
export function untrackedInstances(instances: readonly LabelledInstance[], tracked: ReadonlySet<string>): LabelledInstance[] {
  return instances.filter((instance) => !instance.keys.some((key) => tracked.has(key)));
}

/** The ids, names and self links of every resource in an exported stack (`pulumi stack export`). */
export function trackedKeys(deployment: unknown): Set<string> {
  const resources = (deployment as { resources?: Array<{ id?: unknown; outputs?: Record<string, unknown> }> } | undefined)?.resources ?? [];
  const keys = new Set<string>();
  for (const resource of resources) {
    for (const value of [resource.id, resource.outputs?.["name"], resource.outputs?.["selfLink"], resource.outputs?.["instanceId"]]) {
      if (typeof value === "string" && value !== "") keys.add(value);
    }
  }
  return keys;
}

/** `gcloud compute instances list --format json` → the fieldtest-labelled instances. */
export function gcpInstances(json: unknown, project: string): LabelledInstance[] {
  if (!Array.isArray(json)) return [];
  return json.flatMap((item: { name?: string; zone?: string; status?: string; selfLink?: string; labels?: Record<string, string> }) => {
    const namespace = item.labels?.[LABELS.namespace];
    if (!namespace || !item.name) return [];
    const zone = (item.zone ?? "").split("/").pop() ?? "";
    const path = `projects/${project}/zones/${zone}/instances/${item.name}`;
    return [{ cloud: "gcp" as const, name: item.name, namespace, where: `${project}/${zone}`, state: item.status ?? "?", keys: [path, item.name, ...(item.selfLink ? [item.selfLink] : [])] }];
  });
}

/** `aws ec2 describe-instances --output json` → the fieldtest-tagged instances. */
export function awsInstances(json: unknown, region: string): LabelledInstance[] {
  const reservations = (json as { Reservations?: Array<{ Instances?: unknown[] }> } | undefined)?.Reservations ?? [];
  return reservations.flatMap((reservation) =>
    (reservation.Instances ?? []).flatMap((raw) => {
      const item = raw as { InstanceId?: string; State?: { Name?: string }; Tags?: Array<{ Key: string; Value: string }> };
      const tag = (key: string) => item.Tags?.find((t) => t.Key === key)?.Value;
      const namespace = tag(LABELS.namespace);
      if (!namespace || !item.InstanceId || item.State?.Name === "terminated") return [];
      return [{ cloud: "aws" as const, name: tag("Name") ?? item.InstanceId, namespace, where: region, state: item.State?.Name ?? "?", keys: [item.InstanceId] }];
    }),
  );
}

export interface CloudScopes {
  gcpProjects: string[];
  awsRegions: string[];
}

/** Where to look: every project and region named by a stack file in `stacks/`, examples excepted. */
export function scopesOfStackFiles(stacksDir: string): CloudScopes {
  const projects = new Set<string>();
  const regions = new Set<string>();
  for (const file of readdirSync(stacksDir).filter((f) => /^Pulumi\..+\.yaml$/.test(f) && !f.startsWith("Pulumi.example-"))) {
    const config = (parse(readFileSync(join(stacksDir, file), "utf8")) as { config?: Record<string, unknown> } | null)?.config ?? {};
    if (typeof config["gcp:project"] === "string") projects.add(config["gcp:project"]);
    if (typeof config["aws:region"] === "string") regions.add(config["aws:region"]);
  }
  return { gcpProjects: [...projects].sort(), awsRegions: [...regions].sort() };
}

function runJson(command: string, args: readonly string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${command} ${args.slice(0, 3).join(" ")} failed: ${stderr.trim() || error.message}`));
      try {
        resolve(JSON.parse(stdout || "null"));
      } catch (parseError) {
        reject(new Error(`${command} printed no JSON: ${(parseError as Error).message}`));
      }
    });
  });
}

export interface LabelledListing {
  instances: LabelledInstance[];
  /** What could not be looked at, and why. */
  skipped: string[];
}

/** Asks each cloud for its fieldtest-labelled instances in the given scopes. */
export async function listLabelledInstances(scopes: CloudScopes, env: NodeJS.ProcessEnv): Promise<LabelledListing> {
  const instances: LabelledInstance[] = [];
  const skipped: string[] = [];
  const gcloud = scopes.gcpProjects.length ? findExecutable("gcloud", env) : undefined;
  if (scopes.gcpProjects.length && !gcloud) skipped.push(`GCP projects ${scopes.gcpProjects.join(", ")}: gcloud is not installed`);
  const aws = scopes.awsRegions.length ? findExecutable("aws", env) : undefined;
  if (scopes.awsRegions.length && !aws) skipped.push(`AWS regions ${scopes.awsRegions.join(", ")}: the aws CLI is not installed`);
  const listings = [
    ...(gcloud ? scopes.gcpProjects : []).map((project) =>
      runJson(gcloud!, ["compute", "instances", "list", "--project", project, "--filter", `labels.${LABELS.namespace}:*`, "--format", "json"]).then((json) => gcpInstances(json, project)),
    ),
    ...(aws ? scopes.awsRegions : []).map((region) =>
      runJson(aws!, ["ec2", "describe-instances", "--region", region, "--filters", `Name=tag-key,Values=${LABELS.namespace}`, "--output", "json"]).then((json) => awsInstances(json, region)),
    ),
  ];
  for (const result of await Promise.allSettled(listings)) {
    if (result.status === "fulfilled") instances.push(...result.value);
    else skipped.push((result.reason as Error).message);
  }
  return { instances, skipped };
}
