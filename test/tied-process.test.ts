import t from "tap";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { spawnTied } from "../src/observe/tied-process.ts";
import { eventually } from "./fixtures/binaries.ts";
import { ROOT } from "./helpers/fleet.ts";

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The wrapper's helpers (the stdin watcher, an orphaned grandchild) end a moment after it. */
function groupGone(pgid: number, timeoutMs = 2000): Promise<true> {
  return eventually(`process group ${pgid} to end`, async () => (groupAlive(pgid) ? undefined : true), timeoutMs, 20);
}

t.test("a tied program ends when its owner is killed -9", async (t) => {
  const owner = spawn(process.execPath, ["--import=tsx", join(ROOT, "test/fixtures/tied-sleep.ts")], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(owner.stdout, "data")) as [Buffer];
  const pgid = Number(line.toString().trim());
  t.teardown(() => {
    if (groupAlive(pgid)) process.kill(-pgid, "SIGKILL");
  });
  t.ok(groupAlive(pgid), "the tied sleep runs");
  owner.kill("SIGKILL");
  await once(owner, "exit");
  await groupGone(pgid, 10_000);
  t.pass("nothing of it is left");
});

t.test("stop ends it with TERM, and a program ignoring TERM with KILL after the grace", async (t) => {
  const polite = spawnTied("sleep", ["600"], "ignore");
  await polite.stop(5000);
  await groupGone(polite.child.pid!);
  t.not(polite.child.signalCode, "SIGKILL", "TERM ended it, no KILL was needed");

  const stubborn = spawnTied("sh", ["-c", "trap '' TERM; sleep 600 & wait"], "ignore");
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = Date.now();
  await stubborn.stop(300);
  t.ok(Date.now() - started >= 300, "it waited for the grace period");
  await groupGone(stubborn.child.pid!);
  t.equal(stubborn.child.signalCode, "SIGKILL", "KILL ended it");
});
