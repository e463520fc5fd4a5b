import { FleetInputError } from "../context.ts";
import { gcpApisProblem } from "../pulumi/gcp-apis.ts";
import { pulumiStackTarget, type CloudPlacementFlags } from "../pulumi/pulumi-stack.ts";

/** Where in GCP: `--project` and `--zone`, or gcloud's usual environment variables. */
function placeInGcp(env: NodeJS.ProcessEnv, flags: CloudPlacementFlags) {
  if (flags.region !== undefined) throw new FleetInputError("--region is for --cloud aws; GCP takes --zone (its region is the zone's)");
  const project = flags.project ?? (env.GOOGLE_CLOUD_PROJECT || env.CLOUDSDK_CORE_PROJECT || undefined);
  const zone = flags.zone ?? (env.CLOUDSDK_COMPUTE_ZONE || undefined);
  if (!project) throw new FleetInputError("--cloud gcp needs --project <project id> (or GOOGLE_CLOUD_PROJECT)");
  if (!zone) throw new FleetInputError("--cloud gcp needs --zone <zone>, e.g. europe-west1-b (or CLOUDSDK_COMPUTE_ZONE)");
  return { gcp: { project, zone } };
}

/** Agents as Compute Engine VMs of a Pulumi stack (infra/gcp.ts); the project's APIs are checked before anything is made. */
export const gcpTarget = pulumiStackTarget("gcp", placeInGcp, async (context, request) =>
  request.gcp ? gcpApisProblem(request.gcp.project, context.env) : undefined,
);
