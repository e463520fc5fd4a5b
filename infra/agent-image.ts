import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as dockerBuild from "@pulumi/docker-build";
import { AGENT_IMAGE_BUILD_ARG, AGENT_IMAGE_REPOSITORY } from "../src/core/images.ts";
import { DEFAULT_IMAGE } from "../src/core/defaults.ts";

export interface AgentImageArgs {
  /** Builds `dockerfiles/<alias>.Dockerfile`, with `dockerfiles/` as the build context. */
  alias: string;
  dockerfilesDir: string;
  tag: pulumi.Input<string>;
  registry: dockerBuild.types.input.RegistryArgs;
  /**
   * The images this one extends, by alias, as built for the namespace: `FROM
   * fieldtest-agent:<alias>` resolves to them, never to a registry that has no such image.
   */
  bases: Record<string, pulumi.Output<string>>;
}

/** An agent image built on the machine running Pulumi and pushed to the namespace's registry. */
export function agentImage(name: string, args: AgentImageArgs, parent: pulumi.Resource): dockerBuild.Image {
  return new dockerBuild.Image(
    name,
    {
      context: {
        location: args.dockerfilesDir,
        named: Object.fromEntries(Object.entries(args.bases).map(([alias, ref]) => [`${AGENT_IMAGE_REPOSITORY}:${alias}`, { location: pulumi.interpolate`docker-image://${ref}` }])),
      },
      ...(args.bases[DEFAULT_IMAGE] ? { buildArgs: { [AGENT_IMAGE_BUILD_ARG]: args.bases[DEFAULT_IMAGE] } } : {}),
      dockerfile: { location: path.join(args.dockerfilesDir, `${args.alias}.Dockerfile`) },
      // The machine types fieldtest documents, and the AWS AMI it looks up, are x86-64.
      platforms: [dockerBuild.Platform.Linux_amd64],
      push: true,
      buildOnPreview: false,
      tags: [args.tag],
      registries: [args.registry],
    },
    { parent },
  );
}

/** Digest-pinned references of the images built for a namespace, by alias. */
export class ImageRefs {
  private readonly refs = new Map<string, pulumi.Output<string>>();

  add(alias: string, image: dockerBuild.Image): void {
    this.refs.set(alias, image.ref);
  }

  /** The references of `aliases`, built before: what an image extending them builds from. */
  subset(aliases: readonly string[]): Record<string, pulumi.Output<string>> {
    return Object.fromEntries(aliases.map((alias) => [alias, this.get(alias)]));
  }

  get(alias: string): pulumi.Output<string> {
    const ref = this.refs.get(alias);
    if (!ref) throw new Error(`no image was built for alias "${alias}": every agent group's image must be among the namespace's aliases`);
    return ref;
  }

  toObject(): Record<string, pulumi.Output<string>> {
    return Object.fromEntries(this.refs);
  }
}
