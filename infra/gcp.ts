import * as pulumi from "@pulumi/pulumi";
import * as gcp from "@pulumi/gcp";
import { resourceLabels } from "../src/core/namespace.ts";
import { agentImage, ImageRefs } from "./agent-image.ts";
import { agentBootScript } from "./boot-script.ts";
import { AGENT_SSH_PORT, agentPortRange, planAgents, type AgentPlan, type GcpStackConfig } from "./config.ts";
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
  sshSourceRanges: string[];
}

/**
 * A VPC of the namespace's own, so that its firewall rules are the only doors: ops ssh (22) and the
 * agents' ports from the configured source ranges, the agents' ports from the namespace's subnet.
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
    const agentPorts = `${args.portRange[0]}-${args.portRange[1]}`;

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
    new gcp.compute.Firewall(
      `${ns}-ingress`,
      {
        name: `${ns}-ingress`,
        network: network.id,
        direction: "INGRESS",
        sourceRanges: args.sshSourceRanges,
        targetTags: [this.agentTag],
        allows: [{ protocol: "tcp", ports: ["22", agentPorts] }],
      },
      { parent: this, ...replaceByDeleting },
    );
    new gcp.compute.Firewall(
      `${ns}-internal`,
      {
        name: `${ns}-internal`,
        network: network.id,
        direction: "INGRESS",
        sourceRanges: [SUBNET_CIDR],
        targetTags: [this.agentTag],
        allows: [{ protocol: "tcp", ports: [agentPorts] }],
      },
      { parent: this, ...replaceByDeleting },
    );

    this.subnetworkId = subnetwork.id;
    this.registerOutputs({ subnetworkId: this.subnetworkId });
  }
}

export interface GcpAgentImagesArgs {
  namespace: string;
  project: string;
  region: string;
  /** Image aliases to build, each from `dockerfiles/<alias>.Dockerfile`. */
  aliases: string[];
  dockerfilesDir: string;
  labels: Record<string, string>;
}

/**
 * The namespace's Artifact Registry repository, the agent images built and pushed into it, and
 * the service account the VMs pull them with (reader on this repository only).
 */
export class GcpAgentImages extends pulumi.ComponentResource {
  readonly serviceAccountEmail: pulumi.Output<string>;
  readonly registryHost: string;
  /** Digest-pinned image references by alias. */
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
    this.refs = new ImageRefs();
    for (const alias of args.aliases) {
      const image = agentImage(
        `${ns}-image-${alias}`,
        {
          alias,
          dockerfilesDir: args.dockerfilesDir,
          tag: pulumi.interpolate`${repositoryPath}/${alias}:latest`,
          registry: { address: this.registryHost, username: "oauth2accesstoken", password: accessToken },
        },
        this,
      );
      this.refs.add(alias, image);
    }

    this.serviceAccountEmail = serviceAccount.email;
    this.registerOutputs({ serviceAccountEmail: this.serviceAccountEmail, refs: this.refs.toObject() });
  }
}

export interface GcpAgentArgs {
  plan: AgentPlan;
  zone: string;
  subnetworkId: pulumi.Input<string>;
  networkTag: string;
  serviceAccountEmail: pulumi.Input<string>;
  imageRef: pulumi.Input<string>;
  registryHost: string;
  /** The client's public key line, authorized as root in the agent and as the ops user on the VM. */
  authorizedKey: pulumi.Output<string>;
  ttlSeconds: number;
  expiresAt: Date;
  portRange: [number, number];
  labels: Record<string, string>;
}

/**
 * One agent: a VM that Google deletes at the TTL (`maxRunDuration` + `DELETE`), whatever
 * happens to the stack, and that runs the agent container from boot with its own host key.
 */
export class GcpAgent extends pulumi.ComponentResource {
  readonly provisioned: ProvisionedAgent;

  constructor(name: string, args: GcpAgentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fieldtest:gcp:Agent", name, {}, opts);
    const hostKey = ed25519Key(`${name}-host-key`, this);
    const bootScript = pulumi
      .all([args.imageRef, hostKey.privateKeyOpenssh, args.authorizedKey])
      .apply(([image, hostPrivateKey, clientKey]) =>
        agentBootScript({
          image,
          hostPrivateKey,
          authorizedKey: clientKey,
          expiresAt: args.expiresAt,
          sshPort: AGENT_SSH_PORT,
          extraPackages: [],
          registryLogin: gcpRegistryLogin(args.registryHost),
        }),
      );

    const instance = new gcp.compute.Instance(
      name,
      {
        name,
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
        },
        scheduling: {
          provisioningModel: "STANDARD",
          maxRunDuration: { seconds: args.ttlSeconds },
          instanceTerminationAction: "DELETE",
        },
      },
      // The startup script carries the expiry and runs at boot: a new one (a new TTL at each
      // `pulumi up`) needs a new VM, or the VM's labels and the inventory would outlive its agent.
      { parent: this, ...replaceByDeleting, replaceOnChanges: ["metadata"] },
    );

    this.provisioned = {
      name,
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

/** The VM's service account token from the metadata server is the registry password. */
function gcpRegistryLogin(registryHost: string): string {
  return [
    "token=$(curl -fsS -H 'Metadata-Flavor: Google' \\",
    "  http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token \\",
    `  | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
    `printf '%s' "$token" | docker login --username oauth2accesstoken --password-stdin https://${registryHost}`,
  ].join("\n");
}

export interface GcpFleetArgs {
  config: GcpStackConfig;
  dockerfilesDir: string;
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
    const network = new GcpAgentNetwork(
      `${ns}-network`,
      { namespace: ns, region: config.region, portRange, sshSourceRanges: config.sshSourceRanges },
      { parent: this },
    );
    const images = new GcpAgentImages(
      `${ns}-images`,
      {
        namespace: ns,
        project: config.project,
        region: config.region,
        aliases: [...new Set(plans.map((plan) => plan.image))],
        dockerfilesDir: args.dockerfilesDir,
        labels,
      },
      { parent: this },
    );

    this.agents = plans.map(
      (plan) =>
        new GcpAgent(
          plan.name,
          {
            plan,
            zone: config.zone,
            subnetworkId: network.subnetworkId,
            networkTag: network.agentTag,
            serviceAccountEmail: images.serviceAccountEmail,
            imageRef: images.refs.get(plan.image),
            registryHost: images.registryHost,
            authorizedKey,
            ttlSeconds: config.ttlSeconds,
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
