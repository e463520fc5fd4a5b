// The provisioner with groups of different images: an agent that dies at start is reported
// under its own name, whatever the order of the groups and of the names.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { ensureFleetImages } from "../src/targets/docker-engine/image.ts";
import { upLocalhost } from "../src/targets/docker-engine/provisioner.ts";
import { silentProgress } from "../src/core/progress.ts";
import { NamespaceState } from "../src/targets/state.ts";
import { cleanupNamespace, containerCount, requireDocker, ROOT, tempHome, uniqueNamespace } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  t.test("an agent whose sshd dies is named in the error, though its group sorts last", async (t) => {
    const home = await tempHome(t);
    const project = join(home, "dockerfiles");
    await mkdir(project);
    // It meets the contract (the entrypoint and an sshd are there), but its sshd exits at once.
    await writeFile(
      join(project, "mute.Dockerfile"),
      "FROM fieldtest-agent:debian\nRUN printf '#!/bin/sh\\necho mute sshd gives up >&2\\nexit 1\\n' > /usr/sbin/sshd && chmod +x /usr/sbin/sshd\n",
    );
    const namespace = uniqueNamespace("mute");
    cleanupNamespace(t, docker, namespace);
    const state = new NamespaceState(home, namespace);
    const images = { projectDirs: [project], fieldtestDir: join(ROOT, "dockerfiles") };
    // Built first, so that the clock below times the bring-up only.
    await ensureFleetImages(docker, images, ["mute", "debian"], silentProgress);
    const started = Date.now();
    await t.rejects(
      upLocalhost(docker, {
        namespace,
        groups: [
          { name: "zeta", count: 1, image: "mute" },
          { name: "alpha", count: 1, image: "debian" },
        ],
        ttlSeconds: 300,
        portsPerAgent: 10,
        owner: "tap",
        clientKey: await state.clientKey(),
        images,
        progress: silentProgress,
        readyTimeoutMs: 180_000,
      }),
      /zeta-001 will not become ready: its container exited: [\s\S]*mute sshd gives up/,
    );
    t.ok(Date.now() - started < 90_000, "found dead long before the readiness deadline (180 s)");
    t.equal(await containerCount(docker, namespace), 0, "the partial fleet is removed");
  });
}
