import { AGENT_SSH_PORT } from "../src/core/defaults.ts";
import { agentBootScript } from "./boot-script.ts";

/**
 * The startup script of a GCP agent VM, as plain text from plain values, so that the VM stand-in
 * test (test/vm-boot-gcp.test.ts) runs exactly what GcpAgent puts in the instance's metadata.
 */
export interface GcpStartupScriptArgs {
  /** Digest-pinned reference of the agent image in the namespace's Artifact Registry repository. */
  image: string;
  project: string;
  /** The Secret Manager secret holding the agent's host private key. */
  secretId: string;
  /** The client's public key line, authorized as root in the agent. */
  authorizedKey: string;
  expiresAt: Date;
  /** `<region>-docker.pkg.dev`. */
  registryHost: string;
}

export function gcpStartupScript(args: GcpStartupScriptArgs): string {
  return agentBootScript({
    image: args.image,
    hostKeyCommand: gcpSecretCommand(args.project, args.secretId),
    authorizedKey: args.authorizedKey,
    expiresAt: args.expiresAt,
    sshPort: AGENT_SSH_PORT,
    extraPackages: [],
    registryLogin: gcpRegistryLogin(args.registryHost),
  });
}

/** The VM's service account token, from the metadata server. */
const ACCESS_TOKEN =
  "$(curl -fsS -H 'Metadata-Flavor: Google' http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token" +
  ` | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`;

/** The token is the registry password. */
function gcpRegistryLogin(registryHost: string): string {
  return [`token=${ACCESS_TOKEN}`, `printf '%s' "$token" | docker login --username oauth2accesstoken --password-stdin https://${registryHost}`].join("\n");
}

/** Prints the secret's latest version: Secret Manager's REST answer holds it base64-encoded in `payload.data`. */
export function gcpSecretCommand(project: string, secretId: string): string {
  const url = `https://secretmanager.googleapis.com/v1/projects/${project}/secrets/${secretId}/versions/latest:access`;
  return `curl -fsS -H "Authorization: Bearer ${ACCESS_TOKEN}" ${url} | tr -d ' \\n' | sed -E 's/.*"data":"([^"]+)".*/\\1/' | base64 -d`;
}
