// The images of a cloud fleet: a user's project names its own images (its dockerfiles/, the
// folders localhost searches, passed in fieldtest:dockerfileDirs), each built after the images it
// extends (`FROM fieldtest-agent:debian`, or another of the project's): on a clean machine,
// `FROM fieldtest-agent:debian` would otherwise be pulled from Docker Hub. And the VMs boot from
// a tag that names the image's content, not from its digest: a rebuild of the same files (another
// machine, a pruned build cache) pushes a new digest, which must not replace every VM.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import t, { type Test } from "tap";
import { runProgramAt, type DeclaredResource } from "./fixtures/pulumi-mocks.ts";
import { imageBuildOrder, imageContentTag } from "../src/core/image-catalog.ts";
import { ROOT } from "./helpers/fleet.ts";

const now = new Date("2030-01-01T11:00:00Z");
const TARGETS: Record<string, Record<string, string>> = {
  gcp: { "fieldtest:target": "gcp", "gcp:project": "my-project", "gcp:zone": "europe-west1-b" },
  aws: { "fieldtest:target": "aws", "aws:region": "eu-west-1" },
};
/** What forces a new VM when it changes: GCP's metadata (replaceOnChanges), AWS's user data (userDataReplaceOnChange). */
const BOOT_INPUT: Record<string, (instance: DeclaredResource) => unknown> = {
  gcp: (instance) => instance.inputs["metadata"],
  aws: (instance) => instance.inputs["userData"],
};
const INSTANCE_TYPE: Record<string, string> = { gcp: "gcp:compute/instance:Instance", aws: "aws:ec2/instance:Instance" };

function stackConfig(target: string, agents: unknown[], extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...TARGETS[target]!,
    "fieldtest:ttl": "1h",
    "fieldtest:expiresAt": "2030-01-01T12:00:00Z",
    "fieldtest:sshSourceRanges": JSON.stringify(["203.0.113.7/32"]),
    "fieldtest:agents": JSON.stringify(agents),
    ...extra,
  };
}

function imagesOf(resources: Map<string, DeclaredResource>): Map<string, Record<string, any>> {
  return new Map([...resources.values()].filter((r) => r.type === "docker-build:index:Image").map((r) => [r.name, r.inputs]));
}

/** A user's project: `app` extends fieldtest's agent image, `tool` extends `app`. */
async function userProject(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "fieldtest-project-images-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "app.Dockerfile"), "FROM fieldtest-agent:debian\nCOPY app.conf /etc/app.conf\n");
  await writeFile(join(dir, "app.conf"), "port=30001\n");
  await writeFile(join(dir, "tool.Dockerfile"), "FROM fieldtest-agent:app\nRUN true\n");
  return dir;
}

for (const target of Object.keys(TARGETS)) {
  t.test(`${target}: an image that extends the agent image builds from the namespace's own build of it`, async (t) => {
    const resources = await runProgramAt(now, "alice", stackConfig(target, [{ name: "node", count: 2, image: "fleet" }]));
    const images = imagesOf(resources);
    t.same([...images.keys()].sort(), ["alice-image-debian", "alice-image-fleet"], "the base is built though no group runs it");
    const debianTag = (images.get("alice-image-debian")!["tags"] as string[])[0]!;
    const fleet = images.get("alice-image-fleet")!;
    const debianRef = `${debianTag}@sha256:${"0".repeat(64)}`;
    t.same(fleet["context"]["named"], { "fieldtest-agent:debian": { location: `docker-image://${debianRef}` } });
    t.same(fleet["buildArgs"], { FIELDTEST_AGENT_IMAGE: debianRef }, "and the build argument holds it too, as on localhost");
    t.same(images.get("alice-image-debian")!["context"]["named"], {}, "the base extends nothing");
  });

  t.test(`${target}: a user's project images, from fieldtest:dockerfileDirs, each after the images it extends`, async (t) => {
    const project = await userProject(t);
    const resources = await runProgramAt(now, "alice", stackConfig(target, [{ name: "node", count: 1, image: "tool" }, { name: "db", count: 1, image: "debian" }], { "fieldtest:dockerfileDirs": JSON.stringify([project]) }));
    const images = imagesOf(resources);
    t.same([...images.keys()], ["alice-image-debian", "alice-image-app", "alice-image-tool"], "declared in dependency order");
    const location = relative(process.cwd(), project);
    t.match(images.get("alice-image-tool"), { context: { location }, dockerfile: { location: join(location, "tool.Dockerfile") } }, "built from the project's folder");
    t.match(images.get("alice-image-debian"), { context: { location: "dockerfiles" } }, "fieldtest's own image from the package");
    const appTag = (images.get("alice-image-app")!["tags"] as string[])[0]!;
    t.same(images.get("alice-image-tool")!["context"]["named"], { "fieldtest-agent:app": { location: `docker-image://${appTag}@sha256:${"0".repeat(64)}` } }, "tool builds from the namespace's app");
    const debianTag = imageContentTag({ dir: join(ROOT, "dockerfiles"), alias: "debian" });
    const appContent = imageContentTag({ dir: project, alias: "app" }, [`fieldtest-agent:${debianTag}`]);
    t.match(appTag, new RegExp(`[:/]${appContent}$`), "tagged by content, as localhost tags it");
    const booted = [...resources.values()].filter((r) => r.type === INSTANCE_TYPE[target]).map((r) => JSON.stringify(BOOT_INPUT[target]!(r)));
    const toolContent = imageContentTag({ dir: project, alias: "tool" }, [`fieldtest-agent:${appContent}`]);
    t.ok(booted.some((boot) => boot.includes(`:${toolContent}`)), "the node VM boots the tool image");
    t.ok(booted.some((boot) => boot.includes(`:${debianTag}`)), "the db VM boots fieldtest's image");
  });

  t.test(`${target}: a new digest for the same files leaves every VM's boot input as it was; a changed Dockerfile does not`, async (t) => {
    const project = await userProject(t);
    const config = stackConfig(target, [{ name: "node", count: 2, image: "app" }], { "fieldtest:dockerfileDirs": JSON.stringify([project]) });
    const bootInputs = async (digest: string) => {
      const resources = await runProgramAt(now, "alice", config, [], { imageDigest: digest });
      return [...resources.values()].filter((r) => r.type === INSTANCE_TYPE[target]).map((r) => BOOT_INPUT[target]!(r));
    };
    const first = await bootInputs("1".repeat(64));
    t.equal(first.length, 2);
    t.same(await bootInputs("2".repeat(64)), first, "another machine's build of the same files replaces no VM");
    await writeFile(join(project, "app.conf"), "port=30002\n");
    const changed = await bootInputs("2".repeat(64));
    t.notSame(changed[0], first[0], "a changed build context is a new image: its VMs boot it");
  });
}

t.test("bases come first, once, from the project's folders before fieldtest's; a Dockerfile that extends itself is refused", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "fieldtest-images-"));
  const own = await mkdtemp(join(tmpdir(), "fieldtest-images-own-"));
  t.teardown(() => Promise.all([rm(dir, { recursive: true, force: true }), rm(own, { recursive: true, force: true })]));
  await writeFile(join(own, "debian.Dockerfile"), "FROM debian:bookworm\n");
  await writeFile(join(dir, "a.Dockerfile"), "ARG FIELDTEST_AGENT_IMAGE\nFROM ${FIELDTEST_AGENT_IMAGE}\n");
  await writeFile(join(dir, "b.Dockerfile"), "FROM fieldtest-agent:a\n");
  await writeFile(join(dir, "loop.Dockerfile"), "FROM fieldtest-agent:loop\n");
  const catalog = { projectDirs: [dir, join(dir, "missing")], fieldtestDir: own };
  t.same(imageBuildOrder(catalog, ["b", "debian"]), [
    { alias: "debian", dir: own, bases: [] },
    { alias: "a", dir, bases: ["debian"] },
    { alias: "b", dir, bases: ["a"] },
  ]);
  t.throws(() => imageBuildOrder(catalog, ["loop"]), /loop\.Dockerfile extends itself/);
  t.throws(() => imageBuildOrder(catalog, ["nope"]), { message: new RegExp(`image "nope": no nope\\.Dockerfile in ${dir}, .*; known images: a, b, debian, loop\\. Add dockerfiles/nope\\.Dockerfile to your project`) });
});
