import { execFile } from "node:child_process";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t, { type Test } from "tap";
import { Observation } from "../src/observe/observation.ts";
import { silentProgress } from "../src/core/progress.ts";
import { BINARIES, eventually, freePort, haveBinary } from "./fixtures/binaries.ts";
import { testInventory } from "./fixtures/inventory.ts";
import { tempHome } from "./helpers/fleet.ts";

const run = promisify(execFile);

async function* walk(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

/** The Prometheus process under its tie wrapper. */
async function prometheusPid(wrapperPid: number): Promise<number> {
  const { stdout } = await run("pgrep", ["-P", String(wrapperPid), "-x", "prometheus"]);
  return Number(stdout.trim());
}

async function observedRun(t: Test, password: string) {
  const home = await tempHome(t);
  const observation = await Observation.start({
    inventory: testInventory(1),
    scenario: "security",
    runsDir: join(home, "runs"),
    config: {},
    clientKeyPath: "/k",
    website: { port: 0, auth: { username: "ops", password } },
    progress: silentProgress,
  });
  t.teardown(() => observation.finish({ status: "failed", error: "teardown" }).catch(() => {}));
  await observation.startPrometheus({ port: await freePort(), scrapeInterval: "1s", binary: BINARIES.prometheus.path }, []);
  return observation;
}

if (haveBinary(t, "prometheus")) {
  t.test("no admin or lifecycle API, no secret in the run directory, in a config or in Prometheus' environment", async (t) => {
    const password = `pw-${Math.random().toString(36).slice(2)}`;
    // The runner reads it from here; Prometheus must not inherit it.
    process.env.FIELDTEST_WEBSITE_PASSWORD = password;
    t.teardown(() => delete process.env.FIELDTEST_WEBSITE_PASSWORD);
    const observation = await observedRun(t, password);
    const prometheus = observation.prometheus!;
    await eventually("Prometheus scraping the website with its credentials", async () => {
      const up = await prometheus.query('up{job="fieldtest"}');
      return up[0]?.value[1] === "1" ? true : undefined;
    });

    const evil = { method: "POST", headers: { origin: "http://evil.example" } };
    t.notOk((await fetch(`${prometheus.url}/-/quit`, evil)).ok, "/-/quit refused");
    t.notOk((await fetch(`${prometheus.url}/-/reload`, evil)).ok, "/-/reload refused");
    t.notOk((await fetch(`${prometheus.url}/api/v1/admin/tsdb/delete_series?match[]=up`, evil)).ok, "delete_series refused");
    t.notOk((await fetch(`${prometheus.url}/api/v1/admin/tsdb/snapshot`, evil)).ok, "admin snapshot refused");
    t.equal((await fetch(`${prometheus.url}/-/ready`)).status, 200, "still running");

    const environ = await readFile(`/proc/${await prometheusPid(prometheus.pid!)}/environ`, "utf8");
    t.notMatch(environ, password, "Prometheus' environment holds no password");
    t.notMatch(environ, /FIELDTEST_/, "nor any FIELDTEST_ variable");
    t.notMatch(await readFile(prometheus.configPath, "utf8"), password, "prometheus.yml names a password file, not the password");

    const runDir = observation.runDir.path;
    const passwordFile = join(runDir, "prometheus", "website.password");
    t.equal((await stat(passwordFile)).mode & 0o777, 0o600, "the password file is the owner's alone while Prometheus runs");
    await observation.finish({ status: "passed" });
    t.match(JSON.parse(await readFile(join(runDir, "result.json"), "utf8")), { status: "passed" });
    await t.rejects(stat(passwordFile), "the password file is removed at the end");
    t.equal((await stat(runDir)).mode & 0o777, 0o700, "run directory 0700");
    for await (const file of walk(runDir)) {
      if (file.includes("/prometheus/data/") || file.includes("/prometheus-snapshot/")) continue;
      t.equal((await stat(file)).mode & 0o077, 0, `${file.slice(runDir.length)} is not readable by others`);
    }
    const leaks: string[] = [];
    for await (const file of walk(runDir)) if ((await readFile(file)).includes(password)) leaks.push(file);
    t.same(leaks, [], "no file of the run directory holds the password");
  });

  t.test("a run whose Prometheus dies is recorded as failed, saying so", async (t) => {
    const observation = await observedRun(t, "pw");
    const prometheus = observation.prometheus!;
    process.kill(await prometheusPid(prometheus.pid!), "SIGKILL");
    await prometheus.exited;
    t.throws(() => observation.assertHealthy(), /prometheus \(pid \d+\) exited during the run/);
    await t.rejects(observation.finish({ status: "passed" }), /exited during the run[\s\S]*saved in/);
    const result = JSON.parse(await readFile(join(observation.runDir.path, "result.json"), "utf8"));
    t.match(result, { status: "failed", error: /prometheus \(pid \d+\) exited during the run \(SIGKILL|code/ });
  });
}
