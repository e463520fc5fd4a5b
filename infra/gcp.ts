import * as pulumi from "@pulumi/pulumi";
import * as gcp from "@pulumi/gcp";
import { AGENT_SSH_PORT } from "../src/core/defaults.ts";
import { isoSeconds, resourceLabels } from "../src/core/namespace.ts";
import type { ImageCatalog } from "../src/core/image-catalog.ts";
import { namespaceImages, type ImageRefs } from "./agent-image.ts";
import { gcpStartupScript } from "./gcp-startup-script.ts";
import { agentPortRange, planAgents, type AgentPlan, type Exposure, type GcpStackConfig } from "../src/core/stack-config.ts";
import { exposureRules, portSpanText } from "../src/core/exposure.ts";
import { ed25519Key, openSshPublicKeyLine } from "./keys.ts";
import type { ProvisionedAgent } from "./inventory-output.ts";

/** The namespace's private address space; agents reach each other's port ranges inside it. */
const SUBNET_CIDR = "10.42.0.0/16";
const DEBIAN_IMAGE = "debian-cloud/debian-12";
/** Login name of the ops door (port 22) on each VM; the agents themselves are logged in as root on port 30000. */
const OPS_USER = "fieldtest";

/** Fixed cloud names: a replacement must delete the old resource before creating the new one. */
const replaceByDeleting = { deleteBeforeReplace: true } as const;

export interface GcpAgentNetworkArgs {
  namespace: string;
  region: string;
  portRange: [number, number];
  exposure: Exposure;
}

/**
 * A VPC of the namespace's own, so that its firewall rules are the only doors (see exposure.ts):
 * sshd and the ops door from the configured source ranges, the agents' ports between the
 * namespace's agents (by network tag), and only what the stack opens explicitly beyond that.
 * Networks, subnets and firewall rules carry no labels in GCP; their names carry the namespace.
 */
export class GcpAgentNetwork extends pulumi.ComponentResource {
  readonly subnetworkId: pulumi.Output<string>;
  /** Network tag the firewall rules apply to. */
  readonly agentTag: string;

  constructor(name: string, args: GcpAgentNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fieldtest:gcp:AgentNetwork", name, {}, opts);
    const ns = args.namespace;
    this.agentTag = `${ns}-agent`;

    const network = new gcp.compute.Network(
      `${ns}-network`,
      { name: `${ns}-network`, autoCreateSubnetworks: false, description: `fieldtest namespace ${ns}` },
      { parent: this, ...replaceByDeleting },
    );
    const subnetwork = new gcp.compute.Subnetwork(
      `${ns}-subnet`,
      { name: `${ns}-subnet`, network: network.id, region: args.region, ipCidrRange: SUBNET_CIDR },
      { parent: this, ...replaceByDeleting },
    );
    for (const rule of exposureRules(args.portRange, args.exposure)) {
      const sources = rule.from === "agents" ? { sourceTags: [this.agentTag] } : { sourceRanges: rule.from };
      new gcp.compute.Firewall(
        `${ns}-${rule.name}`,
        {
          name: `${ns}-${rule.name}`,
          description: rule.description,
          network: network.id,
          direction: "INGRESS",
          ...sources,
          targetTags: [this.agentTag],
          allows: rule.allow.map(({ protocol, ports }) => ({ protocol, ports: ports.map(portSpanText) })),
        },
        { parent: this, ...replaceByDeleting },
      );
    }

    this.subnetworkId = subnetwork.id;
    this.registerOutputs({ subnetworkId: this.subnetworkId });
  }
}

export interface GcpAgentImagesArgs {
  namespace: string;
  project: string;
  region: string;
  /** The image aliases the groups run, each built from its `<alias>.Dockerfile` in the catalog. */
  aliases: string[];
  catalog: ImageCatalog;
  labels: Record<string, string>;
}

/**
 * The namespace's Artifact Registry repository, the agent images built and pushed into it, and
 * the service account the VMs pull them with (reader on this repository only).
 */
export class GcpAgentImages extends pulumi.ComponentResource {
  readonly serviceAccountEmail: pulumi.Output<string>;
  readonly registryHost: string;
  /** Image references by alias. */
  readonly refs: ImageRefs;

  constructor(name: string, args: GcpAgentImagesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fieldtest:gcp:AgentImages", name, {}, opts);
    const ns = args.namespace;
    this.registryHost = `${args.region}-docker.pkg.dev`;

    const repository = new gcp.artifactregistry.Repository(
      `${ns}-images`,
      {
        repositoryId: `${ns}-images`,
        location: args.region,
        format: "DOCKER",
        description: `fieldtest agent images of namespace ${ns}`,
        labels: args.labels,
      },
      { parent: this, ...replaceByDeleting },
    );
    const serviceAccount = new gcp.serviceaccount.Account(
      `${ns}-agent`,
      { accountId: `${ns}-agent`, displayName: `fieldtest agents of namespace ${ns}` },
      { parent: this, ...replaceByDeleting },
    );
    new gcp.artifactregistry.RepositoryIamMember(
      `${ns}-agent-pulls-images`,
      {
        repository: repository.name,
        location: repository.location,
        role: "roles/artifactregistry.reader",
        member: pulumi.interpolate`serviceAccount:${serviceAccount.email}`,
      },
      { parent: this },
    );

    const accessToken = gcp.organizations.getClientConfigOutput({ parent: this }).accessToken;
    const repositoryPath = pulumi.interpolate`${this.registryHost}/${args.project}/${repository.repositoryId}`;
    this.refs = namespaceImages(
      {
        namespace: ns,
        catalog: args.catalog,
        aliases: args.aliases,
        reference: (alias, contentTag) => pulumi.interpolate`${repositoryPath}/${alias}:${contentTag}`,
        registry: { address: this.registryHost, username: "oauth2accesstoken", password: accessToken },
      },
      this,
    );

    this.serviceAccountEmail = serviceAccount.email;
    this.registerOutputs({ serviceAccountEmail: this.serviceAccountEmail, refs: this.refs.toObject() });
  }
}

export interface GcpAgentArgs {
  plan: AgentPlan;
  project: string;
  zone: string;
  subnetworkId: pulumi.Input<string>;
  networkTag: string;
  serviceAccountEmail: pulumi.Input<string>;
  imageRef: pulumi.Input<string>;
  registryHost: string;
  /** The client's public key line, authorized as root in the agent and as the ops user on the VM. */
  authorizedKey: pulumi.Output<string>;
  /** The anchored expiry of the fleet (config.ts): the same at every `pulumi up`. */
  expiresAt: Date;
  portRange: [number, number];
  labels: Record<string, string>;
}

/**
 * One agent: a VM that Google deletes at the fleet's expiry (`terminationTime` + `DELETE`),
 * whatever happens to the stack, and that runs the agent container from boot with its own host
 * key, read from a Secret Manager secret that only the namespace's service account may read.
 */
export class GcpAgent extends pulumi.ComponentResource {
  readonly provisioned: ProvisionedAgent;

  constructor(name: string, args: GcpAgentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fieldtest:gcp:Agent", name, {}, opts);
    const hostKey = ed25519Key(`${name}-host-key`, this);
    const secretId = `${name}-host-key`;
    const secret = new gcp.secretmanager.Secret(
      secretId,
      { secretId, project: args.project, replication: { auto: {} }, labels: args.labels },
      { parent: this, ...replaceByDeleting },
    );
    const version = new gcp.secretmanager.SecretVersion(secretId, { secret: secret.id, secretData: hostKey.privateKeyOpenssh }, { parent: this });
    const reader = new gcp.secretmanager.SecretIamMember(
      `${secretId}-reader`,
      {
        project: args.project,
        secretId: secret.secretId,
        role: "roles/secretmanager.secretAccessor",
        member: pulumi.interpolate`serviceAccount:${args.serviceAccountEmail}`,
      },
      { parent: this },
    );
    const bootScript = pulumi
      .all([args.imageRef, args.authorizedKey])
      .apply(([image, authorizedKey]) =>
        gcpStartupScript({ image, project: args.project, secretId, authorizedKey, expiresAt: args.expiresAt, registryHost: args.registryHost }),
      );

    const instance = new gcp.compute.Instance(
      name,
      {
        name: args.plan.resourceName,
        zone: args.zone,
        machineType: args.plan.machineType,
        labels: args.labels,
        tags: [args.networkTag],
        bootDisk: {
          autoDelete: true,
          initializeParams: { image: DEBIAN_IMAGE, size: args.plan.diskGb, labels: args.labels },
        },
        networkInterfaces: [{ subnetwork: args.subnetworkId, accessConfigs: [{}] }],
        serviceAccount: { email: args.serviceAccountEmail, scopes: ["cloud-platform"] },
        metadata: {
          "startup-script": bootScript,
          "ssh-keys": pulumi.interpolate`${OPS_USER}:${args.authorizedKey}`,
          // Only the namespace's client key opens the ops door, not the project's keys.
          "block-project-ssh-keys": "true",
        },
        scheduling: {
          provisioningModel: "STANDARD",
          // Absolute, so that a VM added by a later `pulumi up` goes at the same time as the others.
          terminationTime: isoSeconds(args.expiresAt),
          instanceTerminationAction: "DELETE",
        },
      },
      // The startup script carries the expiry and runs at boot: an extended TTL needs a new VM,
      // or the VM's labels and the inventory would outlive its agent. The expiry is anchored in
      // the stack config, so nothing else replaces a VM. The key must be readable at first boot.
      { parent: this, ...replaceByDeleting, replaceOnChanges: ["metadata"], dependsOn: [version, reader] },
    );

    this.provisioned = {
      name: args.plan.name,
      group: args.plan.group,
      host: instance.networkInterfaces.apply((nics) => nics[0]?.accessConfigs?.[0]?.natIp ?? ""),
      internalHost: instance.networkInterfaces.apply((nics) => nics[0]?.networkIp ?? ""),
      hostKey: hostKey.publicKeyOpenssh.apply(openSshPublicKeyLine),
      sshPort: AGENT_SSH_PORT,
      user: "root",
      portRange: args.portRange,
      labels: args.labels,
    };
    this.registerOutputs({ host: this.provisioned.host, internalHost: this.provisioned.internalHost, hostKey: this.provisioned.hostKey });
  }
}

export interface GcpFleetArgs {
  config: GcpStackConfig;
  /** Where the groups' images are found: the stack's fieldtest:dockerfileDirs, then fieldtest's own. */
  catalog: ImageCatalog;
}

/** Everything a GCP namespace holds: network, images, client key and agents. */
export class GcpFleet extends pulumi.ComponentResource {
  readonly agents: ProvisionedAgent[];
  readonly clientPrivateKey: pulumi.Output<string>;

  constructor(name: string, args: GcpFleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fieldtest:gcp:Fleet", name, {}, opts);
    const { config } = args;
    const ns = config.namespace;
    const labels = resourceLabels({ namespace: ns, expiresAt: config.expiresAt, owner: config.owner });
    const portRange = agentPortRange(config.portsPerAgent);
    const plans = planAgents(config.agents, ns);

    const clientKey = ed25519Key(`${ns}-client-key`, this);
    const authorizedKey = clientKey.publicKeyOpenssh.apply(openSshPublicKeyLine);
    const network = new GcpAgentNetwork(`${ns}-network`, { namespace: ns, region: config.region, portRange, exposure: config }, { parent: this });
    const images = new GcpAgentImages(
      `${ns}-images`,
      {
        namespace: ns,
        project: config.project,
        region: config.region,
        aliases: [...new Set(plans.map((plan) => plan.image))],
        catalog: args.catalog,
        labels,
      },
      { parent: this },
    );

    this.agents = plans.map(
      (plan) =>
        new GcpAgent(
          plan.resourceName,
          {
            plan,
            project: config.project,
            zone: config.zone,
            subnetworkId: network.subnetworkId,
            networkTag: network.agentTag,
            serviceAccountEmail: images.serviceAccountEmail,
            imageRef: images.refs.get(plan.image),
            registryHost: images.registryHost,
            authorizedKey,
            expiresAt: config.expiresAt,
            portRange,
            labels,
          },
          { parent: this },
        ).provisioned,
    );
    this.clientPrivateKey = clientKey.privateKeyOpenssh;
    this.registerOutputs({ agentNames: this.agents.map((agent) => agent.name) });
  }
}
