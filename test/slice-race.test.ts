// Two `up`s on the host network that choose their port slices from the same list of the engine
// both want the same slices. Each container is checked once it exists: of each clashing pair the
// one created later is removed before it starts and made again on another slice, while the
// others of its fleet start at once. Forced here by holding both allocations until both listed,
// and the second's creations until the first's exist: the second loses every pair, and its
// replacements must not pick one slice together.
import { join } from "node:path";
import t from "tap";
import type { Progress } from "../src/core/progress.ts";
import { portIsFree, overlaps, type PortRange } from "../src/targets/docker-engine/ports.ts";
import { LOCAL_ENGINE, upLocalhost } from "../src/targets/docker-engine/provisioner.ts";
import { NamespaceState } from "../src/targets/state.ts";
import { cleanupNamespace, containerCount, requireDocker, ROOT, tempHome, uniqueNamespace, waitFor } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  const home = await tempHome(t);
  const first = uniqueNamespace("race");
  const second = `${first}-b`;
  cleanupNamespace(t, docker, first);
  cleanupNamespace(t, docker, second);

  t.test("two ups allocating from the same list end on disjoint slices, every agent ready", async (t) => {
    // Each up's first allocation waits until both have listed the engine's containers, and a
    // port is probed once for both, as two runners probing a moment apart would find it.
    const probes = new Map<number, Promise<boolean>>();
    const probe = (port: number) => probes.get(port) ?? probes.set(port, portIsFree(port)).get(port)!;
    let arrived = 0;
    let bothListed!: () => void;
    const barrier = new Promise<void>((resolve) => (bothListed = resolve));
    const held = new Set<string>();
    const engineFor = (namespace: string) => ({
      ...LOCAL_ENGINE,
      portIsFree: async (port: number) => {
        if (!held.has(namespace)) {
          held.add(namespace);
          if (++arrived === 2) bothListed();
          await barrier;
          if (namespace === second) await waitFor(`${first}'s containers`, async () => ((await containerCount(docker, first)) === 3 ? true : undefined), 60_000, 20);
        }
        return probe(port);
      },
    });
    const lines: string[] = [];
    const progress: Progress = { step: (line) => lines.push(line) };
    const up = async (namespace: string) =>
      upLocalhost(docker, {
        namespace,
        groups: [{ name: "agent", count: 3, image: "debian" }],
        ttlSeconds: 600,
        portsPerAgent: 10,
        owner: "tap",
        clientKey: await new NamespaceState(home, namespace).clientKey(),
        images: { projectDirs: [], fieldtestDir: join(ROOT, "dockerfiles") },
        progress,
        network: "host",
        engine: engineFor(namespace),
      });
    const [a, b] = await Promise.all([up(first), up(second)]);
    const ranges = [...a.agents, ...b.agents].map((agent) => agent.portRange as PortRange);
    t.equal(ranges.length, 6);
    for (let i = 0; i < ranges.length; i++)
      for (let j = i + 1; j < ranges.length; j++) t.notOk(overlaps(ranges[i]!, ranges[j]!), `slices ${i} and ${j} are disjoint`);
    // Both chose the same 3 slices: of each clashing pair, the second's container was made again.
    const replaced = lines.filter((line) => /another namespace took its port slice at the same time/.test(line));
    // At least those: a replacement's slice may itself be taken by a test running beside this one.
    t.ok(replaced.length >= 3, `containers made again: ${replaced.join("; ")}`);
    t.same([await containerCount(docker, first), await containerCount(docker, second)], [3, 3], "no container left of the lost slices");
  });
}
