// The fuzzing farm of TigerBeetle's VOPR server guide: a hub and runners. Each runner runs
// cores − 2 simulator services as the `voprrunner` user; each runs a few seeds of the code under
// test, then fetches the latest code from the git repository the hub serves and restarts. A
// failing seed is reported to the hub (user `voprhub`), which replays it on its own simulator
// and files one issue per bug that reproduces. The stand-ins are in scenarios/fuzz-farm/.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineScenario, z, type Agent, type Cloud, type Daemon, type RestartEvent } from "fieldtest";
import { copyStandIns } from "./lib/stand-ins.ts";
import { recordFault } from "./lib/record-fault.ts";
import { until } from "./lib/until.ts";

const HERE = join(dirname(fileURLToPath(import.meta.url)), "fuzz-farm");
const HUB_USER = "voprhub";
const RUNNER_USER = "voprrunner";
/** The planted bug, as its stack trace ends; the issue filed must be this one. */
const PLANTED_BUG = "AssertionError: replicas diverged after view change";
/** Branches as in the guide: `vopr/*` are the pull requests labelled for testing. */
const LABELLED_NEWEST_FIRST = ["vopr/new-feature", "vopr/old-feature"];
const UNLABELLED = "wip";

const params = z.object({
  runners: z.number().int().min(1).max(4).default(1).describe("runner machines"),
  runner_cores: z.number().int().min(3, "a runner needs at least 3 cores: cores − 2 simulators, one core for the system, one for the hub").max(16).default(4).describe("cores of each runner; it runs cores − 2 simulators"),
  simulations: z.number().int().min(1).max(20).default(3).describe("seeds a simulator runs before it fetches the latest code and restarts"),
  timeout_s: z.number().int().min(20).max(600).default(80).describe("how long to wait for each expected event"),
});
type Params = z.output<typeof params>;

export interface Start {
  vopr: number;
  branch: string;
  commit: string;
  at: number;
}

export interface Issue {
  fingerprint: string;
  seed: number;
  commit: string;
  branch: string;
  stack_trace: string;
}

/** What the run saw, as the checks read it; times are the hub's clock (seconds). */
export interface FuzzRecord {
  voprs: number;
  starts: Start[];
  reports: number;
  duplicates: number;
  issues: Issue[];
  /** Whether the scenario's own replay of each issue's seed at its commit failed with the same fingerprint. */
  reproduces: Record<string, boolean>;
  mainPush: { commit: string; at: number };
  kill: { vopr: number; at: number; restarts: RestartEvent[] };
}

/** The invariants, on a record: each problem as a sentence; none means the farm behaved. */
export function checkFuzzFarm(r: FuzzRecord): string[] {
  const problems: string[] = [];
  const planted = r.issues.filter((issue) => issue.stack_trace.trim().endsWith(PLANTED_BUG));
  if (planted.length !== 1) problems.push(`the planted bug was filed ${planted.length} times, not exactly once (${r.issues.length} issue(s) in all)`);
  if (r.issues.length !== planted.length) problems.push(`${r.issues.length - planted.length} issue(s) other than the planted bug were filed`);
  for (const issue of planted) if (!r.reproduces[issue.fingerprint]) problems.push(`issue ${issue.fingerprint}: seed ${issue.seed} at ${issue.commit.slice(0, 12)} does not reproduce it`);
  if (r.reports < 1) problems.push("no failing seed was ever reported to the hub");
  if (r.duplicates > r.reports - r.issues.length) problems.push(`${r.duplicates} duplicates of ${r.reports} reports cannot leave ${r.issues.length} issue(s)`);
  for (let vopr = 0; vopr < r.voprs; vopr++) if (!r.starts.some((s) => s.vopr === vopr)) problems.push(`vopr ${vopr} never started`);
  const offMain = r.starts.filter((s) => s.vopr === 0 && s.branch !== "main");
  if (offMain.length) problems.push(`vopr 0 tested ${offMain[0]!.branch}, not main`);
  for (const start of r.starts.filter((s) => s.vopr > 0)) {
    const expected = LABELLED_NEWEST_FIRST[start.vopr - 1] ?? "main";
    if (start.branch !== expected) problems.push(`vopr ${start.vopr} tested ${start.branch}, not ${expected} (labelled branch ${start.vopr}, newest first, or main)`);
  }
  const mainStarts = r.starts.filter((s) => s.vopr === 0 && s.at > r.mainPush.at).sort((a, b) => a.at - b.at);
  const pickedUp = mainStarts.findIndex((s) => s.commit === r.mainPush.commit);
  if (pickedUp < 0) problems.push(`commit ${r.mainPush.commit.slice(0, 12)} pushed to main was never tested by vopr 0`);
  else if (mainStarts.slice(pickedUp).some((s) => s.commit !== r.mainPush.commit)) problems.push("vopr 0 went back to an older commit of main after testing the one pushed mid-run");
  else if (pickedUp > 1) problems.push(`vopr 0 restarted ${pickedUp} times on the old main before picking up ${r.mainPush.commit.slice(0, 12)}`);
  const killed = r.kill.restarts.filter((e) => e.type === "restart" && endedByKill(e.lastExit));
  if (killed.length === 0) problems.push(`vopr ${r.kill.vopr} was killed but its policy made no restart after a KILL`);
  if (!r.starts.some((s) => s.vopr === r.kill.vopr && s.at > r.kill.at)) problems.push(`vopr ${r.kill.vopr} never started again after it was killed`);
  return problems;
}


const asUser = (user: string, script: string) => ["runuser", "-u", user, "--", "env", `HOME=/home/${user}`, "bash", "-c", script];

interface HubState {
  reports: number;
  duplicates: number;
  replayed: number;
  starts: Start[];
  issues: string[];
}

async function hubState(hub: Agent, port: number): Promise<HubState> {
  return JSON.parse((await hub.exec(["curl", "-sf", `http://127.0.0.1:${port}/state`])).stdout) as HubState;
}

async function hubClock(hub: Agent): Promise<number> {
  return Number((await hub.exec(["date", "+%s.%N"])).stdout.trim());
}

/** The repository under test on the hub: main, two labelled branches (older, newer) and a newer unlabelled one. */
async function makeRepository(hub: Agent): Promise<void> {
  await hub.exec(
    [
      "set -e",
      "rm -rf /srv/git /root/fuzz-src && mkdir -p /srv/git /root/fuzz-src && cd /root/fuzz-src",
      "git init -q -b main && git config user.email farm@fieldtest && git config user.name farm",
      "cp /root/fuzz-farm/sim.py . && git add sim.py",
      'export GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" && git commit -qm "simulator"',
      'git checkout -qb vopr/old-feature && echo "# old feature" >> sim.py && GIT_COMMITTER_DATE="2026-01-02T00:00:00Z" git commit -qam "old feature"',
      'git checkout -q main && git checkout -qb vopr/new-feature && echo "# new feature" >> sim.py && GIT_COMMITTER_DATE="2026-01-03T00:00:00Z" git commit -qam "new feature"',
      `git checkout -q main && git checkout -qb ${UNLABELLED} && echo "# unlabelled" >> sim.py && GIT_COMMITTER_DATE="2026-01-04T00:00:00Z" git commit -qam "not labelled"`,
      "git checkout -q main && git clone -q --bare /root/fuzz-src /srv/git/tigerbeetle.git && git remote add origin /srv/git/tigerbeetle.git",
    ].join("\n"),
  );
}

/** A new commit on main, pushed while the simulators run. */
async function pushToMain(hub: Agent): Promise<string> {
  await hub.exec(`cd /root/fuzz-src && sed -i 's/^CODE_VERSION = .*/CODE_VERSION = "2"/' sim.py && git commit -qam "version 2" && git push -q origin main`);
  return (await hub.exec(["git", "-C", "/root/fuzz-src", "rev-parse", "HEAD"])).stdout.trim();
}

const KILL_ATTEMPTS = 5;

/** True when an incarnation ended by SIGKILL (a signal, or 137 from a shell that saw it). */
function endedByKill(exit: RestartEvent["lastExit"]): boolean {
  return exit.signal === "SIGKILL" || exit.signal === "KILL" || exit.code === 137;
}

/**
 * The run's one fault: SIGKILL to a simulator service's whole process group, as a crash would;
 * recorded in the run's history. A simulator exits by itself every few seeds, so a kill can land
 * on an incarnation that has just ended: then the next one is killed, until one dies of it.
 */
async function killSimulator(cloud: Cloud, runner: Agent, daemon: Daemon, timeoutMs: number): Promise<void> {
  recordFault(cloud, { kind: "kill", target: `${runner.name}/${daemon.name}`, expected: "its restart policy starts it again" });
  for (let attempt = 1; attempt <= KILL_ATTEMPTS; attempt++) {
    // Between two incarnations there is no process to kill: wait for one.
    await until(`${daemon.name} to be running`, timeoutMs, async () => (daemon.running ? true : undefined));
    const before = daemon.restartHistory().length;
    await daemon.kill("SIGKILL");
    const next = await until(`${daemon.name} to be restarted after the kill`, timeoutMs, async () => daemon.restartHistory()[before]);
    if (endedByKill(next.lastExit)) return;
    cloud.log(`the kill of ${daemon.name} landed as it ended by itself (${JSON.stringify(next.lastExit)}); killing its next incarnation`);
  }
  throw new Error(`${KILL_ATTEMPTS} kills of ${daemon.name} each landed on an incarnation that was ending by itself`);
}

export default defineScenario({
  name: "fuzz-farm",
  description:
    "TigerBeetle's VOPR server: a hub (user voprhub) serving the git repository under test and replaying reported seeds on its own simulator, and runners (user voprrunner) each running cores − 2 simulator services that test a few seeds, fetch the latest code and restart. Stand-ins in scenarios/fuzz-farm/ (Python 3), with Debian's git.",
  invariants: [
    "the planted bug is filed exactly once, as one issue JSON, and its seed reproduces it at its commit",
    "identical reports are deduplicated: duplicates ≤ reports − issues",
    "vopr 0 always tests main; vopr i tests the i-th newest branch labelled vopr/* (never an unlabelled one), main when there are fewer",
    "a commit pushed to main mid-run is tested at vopr 0's next restart, and never left again",
    "a simulator service killed with kill -9 is restarted by its policy and starts testing again",
  ],
  params,
  fleet: (p: Params) => ({
    hub: { count: 1, image: "fleet", shape: { cores: 2, ramGb: 1 } },
    runner: { count: p.runners, image: "fleet", shape: { cores: p.runner_cores, ramGb: 1 } },
  }),
  async run(cloud, p) {
    const [hub] = cloud.group("hub");
    const runners = cloud.group("runner");
    const perRunner = p.runner_cores - 2;
    const voprs = runners.length * perRunner;
    const timeoutMs = p.timeout_s * 1000;
    const gitPort = hub!.nextPort();
    const hubPort = hub!.nextPort();
    const repository = `git://${hub!.internalHost}:${gitPort}/tigerbeetle.git`;

    await Promise.all([hub!, ...runners].map((agent) => copyStandIns(agent, HERE, "fuzz-farm")));
    await hub!.ensureUser(HUB_USER);
    await makeRepository(hub!);
    await hub!.spawn(["git", "daemon", "--reuseaddr", "--export-all", "--base-path=/srv/git", `--port=${gitPort}`, "/srv/git"], { name: "git-daemon" });
    await hub!.waitForPort(gitPort);
    await hub!.exec(`install -d -o ${HUB_USER} /home/${HUB_USER}/hub && install -o ${HUB_USER} -m 644 /root/fuzz-farm/hub.py /root/fuzz-farm/fingerprint.py /root/fuzz-farm/json_http.py /home/${HUB_USER}/hub/`);
    await hub!.exec(asUser(HUB_USER, `git clone -q ${repository} ~/tigerbeetle`));
    await hub!.spawn(["python3", "hub.py"], {
      name: "voprhub",
      user: HUB_USER,
      cwd: `/home/${HUB_USER}/hub`,
      env: { TIGERBEETLE_DIRECTORY: `/home/${HUB_USER}/tigerbeetle`, VOPR_HUB_ADDRESS: `0.0.0.0:${hubPort}`, ISSUE_DIRECTORY: `/home/${HUB_USER}`, REPOSITORY_URL: repository },
      restart: "on-failure",
    });
    await hub!.waitForPort(hubPort);

    const services: Array<{ runner: Agent; daemon: Daemon; vopr: number }> = [];
    await Promise.all(
      runners.map(async (runner, r) => {
        await runner.ensureUser(RUNNER_USER);
        await runner.exec(`install -d -o ${RUNNER_USER} /home/${RUNNER_USER}/bin && cd /root/fuzz-farm && install -o ${RUNNER_USER} -m 755 vopr_runner.sh scheduler.py vopr.py fingerprint.py /home/${RUNNER_USER}/bin/`);
        for (let i = 0; i < perRunner; i++) {
          const vopr = r * perRunner + i;
          await runner.exec(asUser(RUNNER_USER, `git clone -q ${repository} ~/tigerbeetle${i}`));
          const daemon = await runner.spawn([`/home/${RUNNER_USER}/bin/vopr_runner.sh`, String(vopr)], {
            name: `vopr-${vopr}`,
            user: RUNNER_USER,
            cwd: `/home/${RUNNER_USER}/tigerbeetle${i}`,
            env: { VOPR_HUB_ADDRESS: `${hub!.internalHost}:${hubPort}`, NUM_VOPRS: String(voprs), SIMULATIONS: String(p.simulations), REPOSITORY_URL: repository },
            // A simulator exits after a few seeds and must come back with the latest code, as systemd's Restart= does.
            restart: "always",
            maxRestarts: 10_000,
            backoff: { initialMs: 100, maxMs: 300 },
          });
          services.push({ runner, daemon, vopr });
        }
      }),
    );
    cloud.log(`${voprs} simulator service(s) on ${runners.length} runner(s), hub on ${hub!.name}, repository ${repository}`);

    let last: HubState | undefined;
    const observe = async () => {
      last = await hubState(hub!, hubPort);
      cloud.pushMetric("fuzz_reports", last.reports, { help: "bug reports received by the hub" });
      cloud.pushMetric("fuzz_duplicates", last.duplicates, { help: "reports of an already known bug" });
      cloud.pushMetric("fuzz_issues_filed", last.issues.length, { help: "issues filed after a reproducing replay" });
      cloud.pushMetric("fuzz_simulator_runs", last.starts.length, { help: "simulator runs started" });
      cloud.pushMetric("fuzz_restarts", services.reduce((sum, s) => sum + s.daemon.restartCount, 0), { help: "simulator restarts by their policy" });
      return last;
    };

    await until("every simulator to start once", timeoutMs, async () => ((await observe()).starts.length >= voprs && new Set(last!.starts.map((s) => s.vopr)).size === voprs ? true : undefined));
    const pushedAt = await hubClock(hub!);
    const commit = await pushToMain(hub!);
    cloud.log(`pushed ${commit.slice(0, 12)} to main`);
    await until(`vopr 0 to test ${commit.slice(0, 12)}`, timeoutMs, async () => ((await observe()).starts.some((s) => s.vopr === 0 && s.commit === commit) ? true : undefined));

    const victim = services[0]!;
    const killedAt = await hubClock(hub!);
    const restartsBefore = victim.daemon.restartHistory().length;
    await killSimulator(cloud, victim.runner, victim.daemon, timeoutMs);
    await until(`vopr ${victim.vopr} to start again after the kill`, timeoutMs, async () => ((await observe()).starts.some((s) => s.vopr === victim.vopr && s.at > killedAt) ? true : undefined));
    await until("the hub to file an issue", timeoutMs, async () => ((await observe()).issues.length > 0 ? true : undefined));

    await Promise.all(services.map((s) => s.daemon.stop({ graceMs: 2000 })));
    // The reports sent before the stop are replayed before the issues are read.
    const final = await until("the hub to replay every new report", timeoutMs, async () => {
      const state = await observe();
      return state.replayed + state.duplicates >= state.reports ? state : undefined;
    });
    const issues: Issue[] = [];
    const reproduces: Record<string, boolean> = {};
    for (const file of final.issues) {
      const issue = JSON.parse(await hub!.readFile(`/home/${HUB_USER}/issues/${file}`)) as Issue;
      const { fingerprint } = issue;
      issues.push(issue);
      // The scenario's own replay, independent of the hub's: the seed at its commit, in the scenario's clone.
      const replay = await hub!.exec(`cd /root/fuzz-src && git checkout -q ${issue.commit} && python3 - <<'EOF'\nimport subprocess, sys\nsys.path.insert(0, "/root/fuzz-farm")\nfrom fingerprint import fingerprint\nr = subprocess.run([sys.executable, "sim.py", "${issue.seed}"], capture_output=True, text=True)\nprint(fingerprint(r.stderr) if r.returncode else "passed")\nEOF`);
      reproduces[fingerprint] = replay.stdout.trim() === issue.fingerprint;
      cloud.log(`${file} (${fingerprint}): seed ${issue.seed} on ${issue.branch} at ${issue.commit.slice(0, 12)}; replayed by the scenario: ${reproduces[fingerprint] ? "reproduces" : "does not reproduce"}`);
    }
    const record: FuzzRecord = {
      voprs,
      starts: final.starts,
      reports: final.reports,
      duplicates: final.duplicates,
      issues,
      reproduces,
      mainPush: { commit, at: pushedAt },
      kill: { vopr: victim.vopr, at: killedAt, restarts: victim.daemon.restartHistory().slice(restartsBefore) },
    };
    cloud.log(`${final.starts.length} simulator runs, ${final.reports} reports, ${final.duplicates} duplicates, ${issues.length} issue(s)`);
    const problems = checkFuzzFarm(record);
    if (problems.length) throw new Error(`fuzz-farm invariants broken:\n  ${problems.join("\n  ")}`);
    cloud.log("fuzz-farm: every invariant holds");
  },
});
