import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as dockerBuild from "@pulumi/docker-build";
import { imageBuildOrder, imageContentTag, type ImageCatalog, type ImageSource } from "../src/core/image-catalog.ts";
import { AGENT_IMAGE_BUILD_ARG, AGENT_IMAGE_REPOSITORY } from "../src/core/images.ts";
import { DEFAULT_IMAGE } from "../src/core/defaults.ts";

export interface AgentImageArgs {
  /** Builds `<dir>/<alias>.Dockerfile`, with `<dir>` as the build context. */
  source: ImageSource;
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
  // Relative to the project, where Pulumi runs the program: the build inputs recorded in the
  // stack state are then the same on every machine that has the same layout.
  const location = path.relative(process.cwd(), args.source.dir) || ".";
  return new dockerBuild.Image(
    name,
    {
      context: {
        location,
        named: Object.fromEntries(Object.entries(args.bases).map(([alias, ref]) => [`${AGENT_IMAGE_REPOSITORY}:${alias}`, { location: pulumi.interpolate`docker-image://${ref}` }])),
      },
      ...(args.bases[DEFAULT_IMAGE] ? { buildArgs: { [AGENT_IMAGE_BUILD_ARG]: args.bases[DEFAULT_IMAGE] } } : {}),
      dockerfile: { location: path.join(location, `${args.source.alias}.Dockerfile`) },
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

export interface NamespaceImagesArgs {
  namespace: string;
  catalog: ImageCatalog;
  /** The aliases the fleet's groups run. */
  aliases: readonly string[];
  /** The registry reference of an image: `<repository>:<content tag>`. */
  reference: (alias: string, contentTag: string) => pulumi.Output<string>;
  registry: dockerBuild.types.input.RegistryArgs;
}

/**
 * Every image a fleet runs, each built after the images it extends and pushed under a tag that
 * names its content (the same tag localhost gives it).
 */
export function namespaceImages(args: NamespaceImagesArgs, parent: pulumi.Resource): ImageRefs {
  const refs = new ImageRefs();
  const contentTags = new Map<string, string>();
  for (const { bases, ...source } of imageBuildOrder(args.catalog, args.aliases)) {
    const contentTag = imageContentTag(source, bases.map((base) => `${AGENT_IMAGE_REPOSITORY}:${contentTags.get(base)!}`));
    contentTags.set(source.alias, contentTag);
    const reference = args.reference(source.alias, contentTag);
    const image = agentImage(`${args.namespace}-image-${source.alias}`, { source, tag: reference, registry: args.registry, bases: refs.subset(bases) }, parent);
    refs.add(source.alias, image, reference);
  }
  return refs;
}

/** The references of the images built for a namespace, by alias. */
export class ImageRefs {
  private readonly images = new Map<string, { digestRef: pulumi.Output<string>; bootRef: pulumi.Output<string> }>();

  /**
   * `reference` is the content-tagged one VMs boot from, which waits for the push: a rebuild of
   * the same files (another machine, a pruned build cache) makes a new digest, and a boot script
   * holding the digest would replace every VM though nothing changed.
   */
  add(alias: string, image: dockerBuild.Image, reference: pulumi.Output<string>): void {
    this.images.set(alias, { digestRef: image.ref, bootRef: pulumi.all([reference, image.urn]).apply(([ref]) => ref) });
  }

  /** The digest-pinned references of `aliases`, built before: what an image extending them builds from. */
  subset(aliases: readonly string[]): Record<string, pulumi.Output<string>> {
    return Object.fromEntries(aliases.map((alias) => [alias, this.entry(alias).digestRef]));
  }

  /** The reference an agent of `alias` boots from. */
  get(alias: string): pulumi.Output<string> {
    return this.entry(alias).bootRef;
  }

  private entry(alias: string): { digestRef: pulumi.Output<string>; bootRef: pulumi.Output<string> } {
    const entry = this.images.get(alias);
    if (!entry) throw new Error(`no image was built for alias "${alias}": every agent group's image must be among the namespace's aliases`);
    return entry;
  }

  toObject(): Record<string, pulumi.Output<string>> {
    return Object.fromEntries([...this.images].map(([alias, { digestRef }]) => [alias, digestRef]));
  }
}
