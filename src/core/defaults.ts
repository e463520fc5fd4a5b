/**
 * Constants shared by the runtime, the provisioners and the Pulumi programs. Nothing here
 * imports anything, so the Pulumi program can load it without the runtime's dependencies.
 */

/** An agent on its own machine (or network namespace) runs sshd here; its experiment ports follow. */
export const AGENT_SSH_PORT = 30000;
export const HIGHEST_PORT = 65535;

/** Each agent's slice of ports, sshd's included. */
export const DEFAULT_PORTS_PER_AGENT = 100;

/** The guard of every command that creates agents: more than this is refused unless raised. */
export const DEFAULT_MAX_VMS = 10;

/** How long a namespace lives unless `--ttl` says otherwise. */
export const DEFAULT_TTL = "2h";

/** The default agent image: `dockerfiles/debian.Dockerfile`. */
export const DEFAULT_IMAGE = "debian";

export const CLOUD_TARGETS = ["gcp", "aws"] as const;
export type CloudTarget = (typeof CLOUD_TARGETS)[number];

/** Machine type of a cloud agent group that names neither a type nor a shape. */
export const DEFAULT_MACHINE_TYPES: Record<CloudTarget, string> = { gcp: "e2-standard-2", aws: "t3.medium" };
