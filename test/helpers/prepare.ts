// Runs once before the test files: builds the agent image so parallel test files don't
// each build it. Needs a Docker engine; in CI its absence fails the run.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assertDockerAvailable, createDocker } from "../../src/targets/docker-engine/docker.ts";
import { ensureAgentImage, ensureFleetImages } from "../../src/targets/docker-engine/image.ts";
import { inCi } from "./ci.ts";

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const docker = createDocker();
try {
  await assertDockerAvailable(docker);
} catch (error) {
  console.error(`prepare: ${(error as Error).message}`);
  process.exit(inCi() ? 1 : 0);
}
await ensureAgentImage(docker, { dockerfilesDir: join(root, "dockerfiles"), alias: "debian" }, { step: (m) => console.error(`prepare: ${m}`) });
// The reference fleets' one image (test/fleet-*.test.ts), which extends the agent image.
await ensureFleetImages(docker, { projectDirs: [], fieldtestDir: join(root, "dockerfiles") }, ["fleet"], { step: (m) => console.error(`prepare: ${m}`) });
