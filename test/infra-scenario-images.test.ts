// A fleet whose groups run an image that extends fieldtest's agent (`FROM fieldtest-agent:debian`,
// as dockerfiles/fleet.Dockerfile does) must build that base first and hand it to the build:
// on a clean machine, `FROM fieldtest-agent:debian` would otherwise be pulled from Docker Hub.
import t from "tap";
import { runProgramAt } from "./fixtures/pulumi-mocks.ts";
import { imageBuildOrder } from "../infra/image-order.ts";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const now = new Date("2030-01-01T11:00:00Z");
const TARGETS: Record<string, Record<string, string>> = {
  gcp: { "fieldtest:target": "gcp", "gcp:project": "my-project", "gcp:zone": "europe-west1-b" },
  aws: { "fieldtest:target": "aws", "aws:region": "eu-west-1" },
};

for (const [target, targetConfig] of Object.entries(TARGETS)) {
  t.test(`${target}: an image that extends the agent image builds from the namespace's own build of it`, async (t) => {
    const resources = await runProgramAt(now, "alice", {
      ...targetConfig,
      "fieldtest:ttl": "1h",
      "fieldtest:expiresAt": "2030-01-01T12:00:00Z",
      "fieldtest:sshSourceRanges": JSON.stringify(["203.0.113.7/32"]),
      "fieldtest:agents": JSON.stringify([{ name: "node", count: 2, image: "fleet" }]),
    });
    const images = new Map([...resources.values()].filter((r) => r.type === "docker-build:index:Image").map((r) => [r.name, r.inputs]));
    t.same([...images.keys()].sort(), ["alice-image-debian", "alice-image-fleet"], "the base is built though no group runs it");
    const debianTag = (images.get("alice-image-debian")!["tags"] as string[])[0]!;
    const fleet = images.get("alice-image-fleet")!;
    const debianRef = `${debianTag}@sha256:${"0".repeat(64)}`;
    t.same(fleet["context"]["named"], { "fieldtest-agent:debian": { location: `docker-image://${debianRef}` } });
    t.same(fleet["buildArgs"], { FIELDTEST_AGENT_IMAGE: debianRef }, "and the build argument holds it too, as on localhost");
    t.same(images.get("alice-image-debian")!["context"]["named"], {}, "the base extends nothing");
  });
}

t.test("bases come first, once, and a Dockerfile that extends itself is refused", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "fieldtest-images-"));
  t.teardown(() => import("node:fs/promises").then(({ rm }) => rm(dir, { recursive: true, force: true })));
  await writeFile(join(dir, "debian.Dockerfile"), "FROM debian:bookworm\n");
  await writeFile(join(dir, "a.Dockerfile"), "ARG FIELDTEST_AGENT_IMAGE\nFROM ${FIELDTEST_AGENT_IMAGE}\n");
  await writeFile(join(dir, "b.Dockerfile"), "FROM fieldtest-agent:a\n");
  await writeFile(join(dir, "loop.Dockerfile"), "FROM fieldtest-agent:loop\n");
  t.same(imageBuildOrder(dir, ["b", "debian"]), [
    { alias: "debian", bases: [] },
    { alias: "a", bases: ["debian"] },
    { alias: "b", bases: ["a"] },
  ]);
  t.throws(() => imageBuildOrder(dir, ["loop"]), /loop\.Dockerfile extends itself/);
});
