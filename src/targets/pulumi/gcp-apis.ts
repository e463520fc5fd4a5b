import { execFile } from "node:child_process";
import { findExecutable } from "../../core/executables.ts";

/**
 * The Google Cloud APIs the GCP program (infra/gcp.ts) calls, and the error Google answers when
 * one is not enabled in the project: a 403 whose `google.rpc.ErrorInfo` has the reason
 * `SERVICE_DISABLED` and the service in its metadata (google/api/error_reason.proto); older
 * answers say `accessNotConfigured`. Both carry the message "<title> has not been used in project
 * <project> before or it is disabled. Enable it by visiting
 * https://console.developers.google.com/apis/api/<service>/overview?project=<project> then retry."
 */

/**
 * By what the program makes with each, and the modules of the Pulumi provider (`gcp:<module>/…`
 * resource types) that call it. Enabling an API that is already enabled changes nothing.
 */
export const GCP_APIS = [
  { service: "compute.googleapis.com", title: "Compute Engine API", usedFor: "the network, firewall rules and VMs", modules: ["compute"] },
  { service: "artifactregistry.googleapis.com", title: "Artifact Registry API", usedFor: "the namespace's image registry", modules: ["artifactregistry"] },
  { service: "secretmanager.googleapis.com", title: "Secret Manager API", usedFor: "the agents' host keys", modules: ["secretmanager"] },
  { service: "iam.googleapis.com", title: "Identity and Access Management (IAM) API", usedFor: "the agents' service account", modules: ["serviceaccount"] },
] as const;

export interface DisabledGcpApis {
  /** As the errors name them: `compute.googleapis.com`. */
  services: string[];
  /** The project the errors name (an ID or a number), if they name one. */
  project?: string;
}

const DISABLED = /SERVICE_DISABLED|accessNotConfigured|has not been used in project \S+ before or it is disabled/;
// The activation link of the message, and the ErrorInfo's metadata (JSON, as Pulumi prints the details).
const ACTIVATION_LINK = /\/apis\/api\/([a-z0-9.-]+\.googleapis\.com)(?:\/overview)?\?project=([A-Za-z0-9:._-]+)/g;
const ERROR_INFO_SERVICE = /"service":\s*"([a-z0-9.-]+\.googleapis\.com)"/g;
const QUOTA_PROJECT = /requires a quota project/;
const ERROR_INFO_CONSUMER = /"consumer":\s*"projects\/([A-Za-z0-9:._-]+)"/;

/** The disabled APIs a failed `pulumi up` reports, or undefined if it reports none. */
export function disabledGcpApis(output: string): DisabledGcpApis | undefined {
  // Local credentials without a quota project get SERVICE_DISABLED for Google's own consumer
  // project, which is not the user's to enable anything in: Google's text says what to set.
  if (!DISABLED.test(output) || QUOTA_PROJECT.test(output)) return undefined;
  const services = new Set<string>();
  let project: string | undefined;
  for (const [, service, linkProject] of output.matchAll(ACTIVATION_LINK)) {
    services.add(service!);
    project ??= linkProject;
  }
  for (const [, service] of output.matchAll(ERROR_INFO_SERVICE)) services.add(service!);
  project ??= ERROR_INFO_CONSUMER.exec(output)?.[1];
  if (services.size === 0) return undefined;
  return { services: [...services].sort(), ...(project ? { project } : {}) };
}

function described(service: string): string {
  const known = GCP_APIS.find((api) => api.service === service);
  return known ? `${known.title} (${service}, for ${known.usedFor})` : service;
}

/**
 * What to tell the user: the disabled APIs, and one `gcloud services enable` of every API the
 * fleet uses, since Pulumi stops at the first failures and the others may be disabled too.
 */
export function disabledGcpApisMessage(disabled: DisabledGcpApis): string {
  const all = [...new Set([...GCP_APIS.map((api) => api.service), ...disabled.services])];
  const project = disabled.project ?? "<project>";
  return (
    `the GCP project ${project} has not enabled ${disabled.services.length === 1 ? "an API" : "APIs"} the fleet needs: ${disabled.services.map(described).join("; ")}. ` +
    `Enable every API fieldtest uses, wait a minute or two for it to take effect, then run the same \`up\` again:\n` +
    `  gcloud services enable ${all.join(" ")} --project ${project}`
  );
}

/** gcloud answers in a few seconds; a hung one must not hold `up` for long. */
const GCLOUD_TIMEOUT_MS = 60_000;

/** `gcloud services list` of the project's enabled APIs, one name a line. */
export function gcloudEnabledServicesArgs(project: string): string[] {
  return ["services", "list", "--enabled", "--project", project, "--format", "value(config.name)", "--quiet"];
}

/**
 * The APIs `project` has enabled, as gcloud lists them, or undefined where gcloud cannot tell
 * (not installed, not logged in, not allowed to list services): the check is then left to
 * Google's own refusal, which {@link disabledGcpApis} reads.
 */
export function enabledGcpApis(project: string, env: NodeJS.ProcessEnv): Promise<Set<string> | undefined> {
  const gcloud = findExecutable("gcloud", env);
  if (!gcloud) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile(gcloud, gcloudEnabledServicesArgs(project), { env, timeout: GCLOUD_TIMEOUT_MS, maxBuffer: 4 << 20 }, (error, stdout) => {
      resolve(error ? undefined : new Set(stdout.split("\n").map((line) => line.trim()).filter(Boolean)));
    });
  });
}

/** Before anything is created: the APIs of {@link GCP_APIS} that gcloud says `project` has not enabled, as a plan's problem. */
export async function gcpApisProblem(project: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const enabled = await enabledGcpApis(project, env);
  const missing = enabled && GCP_APIS.map((api) => api.service).filter((service) => !enabled.has(service));
  if (!missing?.length) return undefined;
  return `${disabledGcpApisMessage({ services: missing, project })}\nNothing was created.`;
}
