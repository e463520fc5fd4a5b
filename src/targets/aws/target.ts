import { FleetInputError } from "../context.ts";
import { pulumiStackTarget, type CloudPlacementFlags } from "../pulumi/pulumi-stack.ts";

/** Where in AWS: `--region`, or the AWS CLI's usual environment variables. */
function placeInAws(env: NodeJS.ProcessEnv, flags: CloudPlacementFlags) {
  if (flags.project !== undefined || flags.zone !== undefined) throw new FleetInputError("--project and --zone are for --cloud gcp; AWS takes --region");
  const region = flags.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
  if (!region) throw new FleetInputError("--cloud aws needs --region <region>, e.g. eu-west-1 (or AWS_REGION)");
  return { aws: { region } };
}

/** Agents as EC2 instances of a Pulumi stack (infra/aws.ts). */
export const awsTarget = pulumiStackTarget("aws", placeInAws);
