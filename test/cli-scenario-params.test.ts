// `fieldtest run --localhost` with a scenario's parameters and groups: overrides that work,
// and bad input that exits 2 naming the field, before anything is made.
import { access, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t, { type Test } from "tap";
import { cleanupNamespace, containerCount, requireDocker, ROOT, runCli, tempHome, uniqueNamespace } from "./helpers/fleet.ts";

const SHAPED = join(ROOT, "test", "fixtures", "scenarios", "shaped.ts");
const SECRET = join(ROOT, "test", "fixtures", "scenarios", "secret.ts");
const exists = (path: string) => access(path).then(() => true, () => false);

const docker = await requireDocker(t);
if (docker) {
  t.test("--params and --param (which wins) reach the scenario, --group sets a group's count, config.json records them", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("params");
    cleanupNamespace(t, docker, namespace);
    const file = join(home, "params.json");
    await writeFile(file, JSON.stringify({ units: 3, mode: "fast" }));
    const run = await runCli(["run", SHAPED, "--localhost", "--namespace", namespace, "--params", file, "--param", "units=2", "--group", "router=2"], { FIELDTEST_HOME: home });
    t.equal(run.code, 0, "the run passes", { stderr: run.stderr });
    t.match(run.stdout, 'params {"units":2,"mode":"fast"} agents router-001,router-002,unit-001,unit-002');
    const runs = join(home, "runs", namespace);
    const [runId] = await readdir(runs);
    const config = JSON.parse(await readFile(join(runs, runId!, "config.json"), "utf8")) as { params: unknown; source: { groups: Array<{ name: string; count: number }> } };
    t.same(config.params, { units: 2, mode: "fast" });
    t.same(config.source.groups.map((g) => [g.name, g.count]), [["router", 2], ["unit", 2]]);
  });

  const refused = async (t: Test, args: string[], message: RegExp, setup?: (home: string) => Promise<void>) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("bad");
    cleanupNamespace(t, docker, namespace);
    await setup?.(home);
    const run = await runCli(["run", SHAPED, "--localhost", "--namespace", namespace, ...args.map((arg) => arg.replace("$HOME", home))], { FIELDTEST_HOME: home });
    t.equal(run.code, 2, "exit 2: bad input", { stderr: run.stderr });
    t.match(run.stderr, message);
    t.equal(await containerCount(docker, namespace), 0, "no agent was made");
    t.notOk(await exists(join(home, "namespaces", namespace)), "no namespace state was made");
    return run;
  };

  t.test("a bad --param names the parameter and the rule", (t) => refused(t, ["--param", "units=9"], /fieldtest: bad parameters for scenario shaped:\n {2}parameter units = 9: Too big: expected number to be <=4/));
  t.test("an unknown --param names the scenario's parameters", (t) => refused(t, ["--param", "nodes=2"], /--param nodes: scenario shaped has no parameter "nodes"; its parameters are units, mode/));
  t.test("a --params file that is not JSON is named", (t) =>
    refused(t, ["--params", "$HOME/p.json"], /--params \S+p\.json is not JSON/, (home) => writeFile(join(home, "p.json"), "units: 2")),
  );
  t.test("--group names a group the scenario has", (t) => refused(t, ["--group", "units=2"], /--group units: scenario shaped has no group "units"; its groups are router, unit/));
  t.test("--vms is refused for a scenario of several groups", (t) => refused(t, ["--vms", "3"], /--vms: scenario shaped has 2 groups \(router, unit\): set their sizes with --group/));
  t.test("a plan over --max-cores is refused before anything is made", async (t) => {
    const run = await refused(t, ["--param", "units=4", "--max-cores", "3"], /fieldtest: 4 cores exceed --max-cores 3: unit 4 × 1; shrink the groups or their shapes, or raise --max-cores to 4\. Nothing was created/);
    t.match(run.stderr, /4 × 1 core, 0\.5 GB → container \(image debian, limits 1 core, 0\.5 GB\)\s+group unit\s+unit-001 … unit-004/, "the plan is printed first");
  });
  t.test("run --localhost obeys --max-vms as up does", (t) => refused(t, ["--group", "router=9", "--param", "units=2"], /11 agents exceed --max-vms 10/));

  t.test("a secret written with writeFile is mode 0600, unreadable by others, and in no log or run-directory file", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("secret");
    cleanupNamespace(t, docker, namespace);
    const secret = `s3cret-${namespace}-${Date.now()}`;
    const run = await runCli(["run", SECRET, "--localhost", "--namespace", namespace], { FIELDTEST_HOME: home, FIELDTEST_TEST_SECRET: secret });
    t.equal(run.code, 0, "the run passes", { stderr: run.stderr });
    t.match(run.stdout, "mode 600 root; nobody reads it: no");
    t.match(run.stdout, `[agent-001/reader] ${secret.length}`, "the daemon read the file");
    t.notMatch(run.stdout + run.stderr, secret, "not on stdout or stderr");
    const runs = join(home, "runs", namespace);
    const files = (await readdir(runs, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    t.ok(files.some((f) => f.name === "agent-001-reader.log"), "the run directory has the daemon's log");
    for (const file of files) {
      const content = await readFile(join(file.parentPath, file.name), "utf8");
      t.notOk(content.includes(secret), `not in ${file.name}`);
    }
  });
}
