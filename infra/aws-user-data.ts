import { AGENT_SSH_PORT } from "../src/core/defaults.ts";
import { agentBootScript } from "./boot-script.ts";

/**
 * The user data of an AWS agent instance, as plain text from plain values, so that the VM
 * stand-in test (test/vm-boot-aws.test.ts) runs exactly what AwsAgent gives the instance.
 */
export interface AwsUserDataArgs {
  /** Digest-pinned reference of the agent image in the namespace's ECR repository. */
  image: string;
  region: string;
  /** The SSM SecureString parameter holding the agent's host private key. */
  hostKeyParameter: string;
  /** The client's public key line, authorized as root in the agent. */
  authorizedKey: string;
  expiresAt: Date;
  /** `<account>.dkr.ecr.<region>.amazonaws.com`. */
  registryHost: string;
}

export function awsUserData(args: AwsUserDataArgs): string {
  return agentBootScript({
    image: args.image,
    hostKeyCommand: ssmParameterCommand(args.region, args.hostKeyParameter),
    authorizedKey: args.authorizedKey,
    expiresAt: args.expiresAt,
    sshPort: AGENT_SSH_PORT,
    extraPackages: ["awscli"],
    registryLogin: `aws ecr get-login-password --region ${args.region} | docker login --username AWS --password-stdin ${args.registryHost}`,
    // AWS enforces no end time itself: the instance powers off, and `terminate` deletes it.
    powerOffAtExpiry: true,
  });
}

/** Prints a SecureString parameter's value, decrypted. */
export function ssmParameterCommand(region: string, parameter: string): string {
  return `aws ssm get-parameter --region ${region} --with-decryption --name ${parameter} --query Parameter.Value --output text`;
}
