// The agent's own timer, alone: no runner and no reaper. On a cloud VM, or on an engine whose
// reaper is gone, the agent's main process leaving at its expiry is the only thing that ends it.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import t from "tap";
import { LABELS } from "../src/core/namespace.ts";
import { isGoneOrGoing } from "../src/targets/docker-engine/docker.ts";
import { namespaceContainers, upLocalhost } from "../src/targets/docker-engine/provisioner.ts";
import { reaperName } from "../src/targets/docker-engine/reaper.ts";
import { silentProgress } from "../src/core/progress.ts";
import { NamespaceState } from "../src/targets/state.ts";
import { followLog } from "./helpers/container-log.ts";
import { cleanupNamespace, containerCount, requireDocker, ROOT, tempHome, uniqueNamespace, waitFor } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  t.test("an agent whose owner has no reaper leaves by itself at its TTL and says so in its log", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("ownttl");
    cleanupNamespace(t, docker, namespace);
    // An owner of its own: its reaper is this test's to remove, and no other test's reaper sees the agent.
    const owner = `ownttl-${randomBytes(4).toString("hex")}`;
    await upLocalhost(docker, {
      namespace,
      groups: [{ name: "agent", count: 1, image: "debian" }],
      ttlSeconds: 15,
      portsPerAgent: 10,
      owner,
      clientKey: await new NamespaceState(home, namespace).clientKey(),
      images: { projectDirs: [], fieldtestDir: join(ROOT, "dockerfiles") },
      progress: silentProgress,
    });
    await docker
      .getContainer(reaperName(owner))
      .remove({ force: true })
      .catch((error) => {
        if (!isGoneOrGoing(error)) throw error;
      });
    await waitFor("the owner's reaper to be gone", async () => ((await docker.getContainer(reaperName(owner)).inspect().catch(() => undefined)) ? undefined : true), 10_000, 100);
    const [agent] = await namespaceContainers(docker, namespace);
    const expiresAt = Number(agent!.Labels[LABELS.expiresAt]) * 1000;
    t.ok(Date.now() < expiresAt, "the reaper was gone before the agent's expiry, so only the agent's own timer can end it");
    const log = await followLog(docker, agent!.Id);

    // Generous: on a loaded engine the exit and the auto-remove can take a while; an agent whose timer is cut out never leaves.
    await waitFor("the agent to leave by itself", async () => ((await containerCount(docker, namespace)) === 0 ? true : undefined), expiresAt - Date.now() + 60_000, 250);
    t.ok(Date.now() >= expiresAt, "not before its expiry");
    t.pass(`gone ${((Date.now() - expiresAt) / 1000).toFixed(1)} s after its expiry`);
    await log.ended;
    t.match(log.text(), /fieldtest-agent: TTL reached, exiting/, "its log says the TTL ended it");
    t.notOk(await docker.getContainer(reaperName(owner)).inspect().catch(() => undefined), "no reaper of the owner ran meanwhile");
  });
}
