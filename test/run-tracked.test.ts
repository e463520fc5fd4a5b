// `run --detach` returns once its runner is tracked, and `attach` may follow at once from any
// machine, which reads the run on the fleet's mirror: so the runner may say it is tracked only
// after its first status reached the mirror.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { localRunnerStatus } from "../src/runs/homes/runner-home.ts";
import { RunTracker } from "../src/runs/tracker.ts";
import type { Agent } from "../src/runtime/agent.ts";

t.test("a runner is tracked only once its first status is on the mirror", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "fieldtest-tracked-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const seenWhileMirroring: string[] = [];
  const mirrored: string[] = [];
  // The mirror's side of an agent: each command it runs, answered after the runner's status was
  // asked for, as `run --detach` polls it meanwhile.
  const agent = {
    name: "agent-001",
    async exec(command: string) {
      seenWhileMirroring.push((await localRunnerStatus(dir, async () => undefined)).state);
      mirrored.push(command);
      return { stdout: "", stderr: "", code: 0 };
    },
  } as unknown as Agent;
  const tracker = await RunTracker.start({
    runDirPath: dir,
    runId: "20261206-120000-abcd",
    namespace: "tracked",
    scenario: "health",
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    agentNames: ["agent-001"],
    mirrorAgent: agent,
    detached: true,
    phase: () => "starting",
    onStop: () => {},
    progress: { step() {} },
  });
  t.teardown(() => tracker.finish());
  t.ok(mirrored.some((command) => command.includes("status.json")), "the first sync sent status.json to the mirror");
  t.same([...new Set(seenWhileMirroring)], ["starting"], "not tracked while the mirror did not have it");
  t.equal((await localRunnerStatus(dir, async () => undefined)).state, "tracked", "tracked once it has");
});
