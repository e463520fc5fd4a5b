import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { AGENT_SSH_PORT } from "../src/core/defaults.ts";
import { resourceLabels } from "../src/core/namespace.ts";
import type { ImageCatalog } from "../src/core/image-catalog.ts";
import { namespaceImages, type ImageRefs } from "./agent-image.ts";
import { awsUserData } from "./aws-user-data.ts";
import { agentPortRange, planAgents, type AgentPlan, type AwsStackConfig, type Exposure } from "../src/core/stack-config.ts";
import { exposureRules } from "../src/core/exposure.ts";
import { ed25519Key, openSshPublicKeyLine } from "./keys.ts";
import type { ProvisionedAgent } from "./inventory-output.ts";

/** Debian's own account, which publishes the official Debian AMIs. */
export const DEBIAN_AMI_OWNER = "136693071363";
/** What `docker pull` needs from one ECR repository. */
const ECR_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"];

type Tags = Record<string, string>;

export interface AwsAgentNetworkArgs {
  namespace: string;
  region: string;
  portRange: [number, number];
  exposure: Exposure;
  tags: Tags;
}

/**
 * The agents' security group in the default VPC (see exposure.ts): sshd and the ops door from
 * the configured source ranges, the agents' ports from the group itself, and only what the
 * stack opens explicitly beyond that. Egress stays open: the VMs install Docker and pull their
 * image at boot.
 */
export class AwsAgentNetwork extends pulumi.ComponentResource {
  readonly securityGroupId: pulumi.Output<string>;

  constructor(name: string, args: AwsAgentNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fieldtest:aws:AgentNetwork", name, {}, opts);
    const ingress = exposureRules(args.portRange, args.exposure).flatMap((rule) =>
      rule.allow.flatMap(({ protocol, ports }) =>
        ports.map(([fromPort, toPort]) => ({
          description: rule.description,
          protocol,
          fromPort,
          toPort,
          ...(rule.from === "agents" ? { self: true } : { cidrBlocks: rule.from }),
        })),
      ),
    );
    // Asked for, not assumed: a region without a default VPC gets an error that says what to do.
    const vpcs = aws.ec2.getVpcsOutput({ filters: [{ name: "is-default", values: ["true"] }] }, { parent: this });
    const securityGroup = new aws.ec2.SecurityGroup(
      `${args.namespace}-agents`,
      {
        name: `${args.namespace}-agents`,
        vpcId: vpcs.ids.apply((ids) => defaultVpcId(ids, args.region)),
        description: `fieldtest agents of namespace ${args.namespace}`,
        ingress,
        egress: [{ description: "package and image downloads", protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
        tags: { ...args.tags, Name: `${args.namespace}-agents` },
      },
      { parent: this, deleteBeforeReplace: true },
    );
    this.securityGroupId = securityGroup.id;
    this.registerOutputs({ securityGroupId: this.securityGroupId });
  }
}

/** The region's default VPC, where the agents run, or an error naming how to make one. */
export function defaultVpcId(ids: readonly string[], region: string): string {
  if (ids.length === 0) {
    throw new Error(`AWS region ${region} has no default VPC, where fieldtest runs its agents: create one (aws ec2 create-default-vpc --region ${region}) or choose another aws:region. Nothing was created.`);
  }
  return ids[0]!;
}

/**
 * The agents' IAM role and instance profile: IAM names are account-wide, so the region is part of
 * them, or the same namespace in two regions would share (and then delete) one role.
 */
export function agentRoleName(namespace: string, region: string): string {
  return `${namespace}-agent-${region}`;
}

export interface AwsAgentImagesArgs {
  namespace: string;
  region: string;
  /** The image aliases the groups run, each built from its `<alias>.Dockerfile` in the catalog. */
  aliases: string[];
  catalog: ImageCatalog;
  tags: Tags;
}

/**
 * The namespace's ECR repository (one tag per image alias), the images built and pushed into
 * it, and the instance profile the VMs pull them and read their host keys with: allowed to pull
 * from this repository and to read the namespace's parameters only, since scenario code on an
 * agent can use the instance's credentials too.
 */
export class AwsAgentImages extends pulumi.ComponentResource {
  readonly registryHost: pulumi.Output<string>;
  readonly instanceProfileName: pulumi.Output<string>;
  /** Image references by alias. */
  readonly refs: ImageRefs;

  constructor(name: string, args: AwsAgentImagesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fieldtest:aws:AgentImages", name, {}, opts);
    const ns = args.namespace;
    const repository = new aws.ecr.Repository(
      `${ns}-images`,
      { name: `${ns}-images`, forceDelete: true, tags: { ...args.tags, Name: `${ns}-images` } },
      { parent: this, deleteBeforeReplace: true },
    );
    const roleName = agentRoleName(ns, args.region);
    // GovCloud and China have partitions of their own: arn:aws-us-gov:…, arn:aws-cn:…
    const partition = aws.getPartitionOutput({}, { parent: this }).partition;
    const role = new aws.iam.Role(
      `${ns}-agent`,
      {
        name: roleName,
        description: `fieldtest agents of namespace ${ns}: pull agent images`,
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
        tags: { ...args.tags, Name: roleName },
      },
      { parent: this, deleteBeforeReplace: true },
    );
    new aws.iam.RolePolicy(
      `${ns}-agent-pulls-images`,
      {
        name: `${ns}-agent-pulls-images`,
        role: role.name,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            // A registry login token cannot be scoped to a repository.
            { Sid: "RegistryLogin", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
            { Sid: "PullNamespaceImages", Effect: "Allow", Action: ECR_PULL_ACTIONS, Resource: repository.arn },
            // SecureString parameters under the AWS-managed key, which SSM decrypts for the caller.
            { Sid: "ReadHostKeys", Effect: "Allow", Action: "ssm:GetParameter", Resource: pulumi.interpolate`arn:${partition}:ssm:${args.region}:*:parameter${hostKeyParameterPrefix(ns)}*` },
          ],
        }),
      },
      { parent: this },
    );
    const instanceProfile = new aws.iam.InstanceProfile(
      `${ns}-agent`,
      { name: roleName, role: role.name, tags: { ...args.tags, Name: roleName } },
      { parent: this, deleteBeforeReplace: true },
    );

    const credentials = aws.ecr.getAuthorizationTokenOutput({ registryId: repository.registryId }, { parent: this });
    this.registryHost = repository.repositoryUrl.apply((url) => url.replace(/\/.*$/, ""));
    this.refs = namespaceImages(
      {
        namespace: ns,
        catalog: args.catalog,
        aliases: args.aliases,
        reference: (_alias, contentTag) => pulumi.interpolate`${repository.repositoryUrl}:${contentTag}`,
        registry: { address: this.registryHost, username: credentials.userName, password: credentials.password },
      },
      this,
    );

    this.instanceProfileName = instanceProfile.name;
    this.registerOutputs({ registryHost: this.registryHost, instanceProfileName: this.instanceProfileName, refs: this.refs.toObject() });
  }
}

/** `/fieldtest/<ns>/`: the namespace's SSM parameters. */
function hostKeyParameterPrefix(namespace: string): string {
  return `/fieldtest/${namespace}/`;
}

export interface AwsAgentArgs {
  plan: AgentPlan;
  namespace: string;
  region: string;
  amiId: pulumi.Input<string>;
  securityGroupId: pulumi.Input<string>;
  keyPairName: pulumi.Input<string>;
  instanceProfileName: pulumi.Input<string>;
  imageRef: pulumi.Input<string>;
  registryHost: pulumi.Input<string>;
  /** The client's public key line, authorized as root in the agent. */
  authorizedKey: pulumi.Output<string>;
  /** The anchored expiry of the fleet (config.ts): the same at every `pulumi up`. */
  expiresAt: Date;
  portRange: [number, number];
  tags: Tags;
}

/**
 * One agent: an instance that powers itself off at the fleet's expiry and is then terminated by
 * AWS (`instanceInitiatedShutdownBehavior: terminate`), running the agent container from boot
 * with its own host key, read from a SecureString parameter that only the namespace's role may read.
 */
export class AwsAgent extends pulumi.ComponentResource {
  readonly provisioned: ProvisionedAgent;

  constructor(name: string, args: AwsAgentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fieldtest:aws:Agent", name, {}, opts);
    const hostKey = ed25519Key(`${name}-host-key`, this);
    const tags = { ...args.tags, Name: args.plan.resourceName };
    const parameterName = `${hostKeyParameterPrefix(args.namespace)}${args.plan.name}/host-key`;
    const parameter = new aws.ssm.Parameter(
      `${name}-host-key`,
      { name: parameterName, type: "SecureString", value: hostKey.privateKeyOpenssh, description: `host key of fieldtest agent ${args.plan.name}`, tags },
      { parent: this, deleteBeforeReplace: true },
    );
    const userData = pulumi
      .all([args.imageRef, args.authorizedKey, args.registryHost])
      .apply(([image, authorizedKey, registryHost]) =>
        awsUserData({ image, region: args.region, hostKeyParameter: parameterName, authorizedKey, expiresAt: args.expiresAt, registryHost }),
      );

    const instance = new aws.ec2.Instance(
      name,
      {
        ami: args.amiId,
        instanceType: args.plan.machineType,
        associatePublicIpAddress: true,
        vpcSecurityGroupIds: [args.securityGroupId],
        keyName: args.keyPairName,
        iamInstanceProfile: args.instanceProfileName,
        instanceInitiatedShutdownBehavior: "terminate",
        userData,
        // User data runs at first boot only: an instance kept across a user-data change would
        // lose its scheduled shutdown, so a change (an extended TTL) replaces the instance. The
        // expiry is anchored in the stack config, so nothing else changes it.
        userDataReplaceOnChange: true,
        // IMDSv2 only, one hop: the instance's credentials need a session token, and a
        // container on a bridge network (one more hop) cannot reach them.
        metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 },
        rootBlockDevice: { volumeSize: args.plan.diskGb, volumeType: "gp3", deleteOnTermination: true, tags },
        tags,
      },
      // The key must be readable at first boot. The AMI lookup follows Debian's releases: a newer
      // image is for new instances, not a reason to replace the running ones.
      { parent: this, dependsOn: [parameter], ignoreChanges: ["ami"] },
    );

    this.provisioned = {
      name: args.plan.name,
      group: args.plan.group,
      host: instance.publicIp,
      internalHost: instance.privateIp,
      hostKey: hostKey.publicKeyOpenssh.apply(openSshPublicKeyLine),
      sshPort: AGENT_SSH_PORT,
      user: "root",
      portRange: args.portRange,
      labels: args.tags,
    };
    this.registerOutputs({ host: this.provisioned.host, internalHost: this.provisioned.internalHost, hostKey: this.provisioned.hostKey });
  }
}

export interface AwsFleetArgs {
  config: AwsStackConfig;
  /** Where the groups' images are found: the stack's fieldtest:dockerfileDirs, then fieldtest's own. */
  catalog: ImageCatalog;
}

/** Everything an AWS namespace holds: security group, images, key pair and agents. */
export class AwsFleet extends pulumi.ComponentResource {
  readonly agents: ProvisionedAgent[];
  readonly clientPrivateKey: pulumi.Output<string>;

  constructor(name: string, args: AwsFleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fieldtest:aws:Fleet", name, {}, opts);
    const { config } = args;
    const ns = config.namespace;
    const tags = resourceLabels({ namespace: ns, expiresAt: config.expiresAt, owner: config.owner });
    const portRange = agentPortRange(config.portsPerAgent);
    const plans = planAgents(config.agents, ns);

    const clientKey = ed25519Key(`${ns}-client-key`, this);
    const authorizedKey = clientKey.publicKeyOpenssh.apply(openSshPublicKeyLine);
    // The same client key opens the ops door (port 22, user admin on Debian AMIs).
    const keyPair = new aws.ec2.KeyPair(
      `${ns}-client`,
      { keyName: `${ns}-client`, publicKey: authorizedKey, tags: { ...tags, Name: `${ns}-client` } },
      { parent: this, deleteBeforeReplace: true },
    );
    const network = new AwsAgentNetwork(`${ns}-network`, { namespace: ns, region: config.region, portRange, exposure: config, tags }, { parent: this });
    const images = new AwsAgentImages(
      `${ns}-images`,
      { namespace: ns, region: config.region, aliases: [...new Set(plans.map((plan) => plan.image))], catalog: args.catalog, tags },
      { parent: this },
    );
    const ami = aws.ec2.getAmiOutput(
      {
        owners: [DEBIAN_AMI_OWNER],
        mostRecent: true,
        filters: [
          { name: "name", values: ["debian-12-amd64-*"] },
          { name: "architecture", values: ["x86_64"] },
          { name: "virtualization-type", values: ["hvm"] },
        ],
      },
      { parent: this },
    );

    this.agents = plans.map(
      (plan) =>
        new AwsAgent(
          plan.resourceName,
          {
            plan,
            namespace: ns,
            region: config.region,
            amiId: ami.id,
            securityGroupId: network.securityGroupId,
            keyPairName: keyPair.keyName,
            instanceProfileName: images.instanceProfileName,
            imageRef: images.refs.get(plan.image),
            registryHost: images.registryHost,
            authorizedKey,
            expiresAt: config.expiresAt,
            portRange,
            tags,
          },
          { parent: this },
        ).provisioned,
    );
    this.clientPrivateKey = clientKey.privateKeyOpenssh;
    this.registerOutputs({ agentNames: this.agents.map((agent) => agent.name) });
  }
}
