import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import t from "tap";
import { listFieldtestContainers } from "../src/targets/docker-engine/provisioner.ts";
import { LABELS } from "../src/core/namespace.ts";
import { requireDocker, runCli, tempHome } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  const home = await tempHome(t);
  // A unique owner label tells this test's containers apart from those of tests running beside it.
  const owner = `usage-${randomBytes(4).toString("hex")}`;
  const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "", FIELDTEST_OWNER: owner };
  const ownedContainers = async () => (await listFieldtestContainers(docker)).filter((c) => c.Labels[LABELS.owner] === owner).length;
  const badInventory = join(home, "bad.json");
  await writeFile(badInventory, JSON.stringify({ namespace: "ok", target: "localhost", createdAt: "yesterday", expiresAt: new Date().toISOString(), agents: [{ name: "a", host: "h", sshPort: 70000, user: "root", hostKey: "nope", portRange: [1, 2] }] }));
  const notJson = join(home, "not.json");
  await writeFile(notJson, "{ agents: ");

  const cases: Array<[string, string[], RegExp]> = [
    ["uppercase namespace", ["up", "--localhost", "--namespace", "Alice"], /--namespace "Alice": namespace must be lowercase/],
    ["namespace too long", ["run", "health", "--localhost", "--namespace", "a".repeat(21)], /--namespace "a{21}": namespace is longer than 20 characters/],
    ["bad TTL", ["up", "--localhost", "--namespace", "ok", "--ttl", "forever"], /--ttl: ttl "forever" is not a duration/],
    ["TTL too short", ["run", "health", "--localhost", "--ttl", "1s"], /--ttl: .*shorter than the minimum/],
    ["zero agents", ["run", "health", "--localhost", "--vms", "0"], /--vms "0" must be a whole number of at least 1/],
    ["too many agents", ["up", "--localhost", "--namespace", "ok", "--vms", "5000"], /--vms 5000 is more than the maximum/],
    ["unknown scenario", ["run", "no-such-scenario", "--localhost"], /scenario "no-such-scenario" not found/],
    ["malformed inventory", ["run", "health", "--inventory", badInventory], /inventory.createdAt: .*\n.*inventory.agents.0.sshPort/],
    ["inventory not JSON", ["run", "health", "--inventory", notJson], /is not JSON/],
    ["missing inventory", ["run", "health", "--inventory", join(home, "none.json")], /cannot be read/],
    ["run without a fleet", ["run", "health"], /run needs a fleet: --localhost .* --namespace .* --inventory/],
    ["up without target", ["up", "--namespace", "ok"], /up needs a target: --localhost/],
    ["destroy without namespace", ["destroy"], /destroy needs --namespace/],
    ["--keep without --localhost", ["run", "health", "--namespace", "ok", "--keep"], /--keep only applies with --localhost/],
    ["unknown option", ["list", "--bogus"], /unknown option '--bogus'/],
    ["two orchestrator agents", ["up", "--localhost", "--namespace", "ok", "--group", "orchestrator=2"], /--group orchestrator=2: a fleet has one orchestrator agent at most; write --group orchestrator=1/],
    ["bad image name", ["up", "--localhost", "--namespace", "ok", "--image", "../etc"], /--image "..\/etc" must name dockerfiles/],
    ["open website without auth", ["run", "health", "--localhost", "--website", "--website-host", "0.0.0.0"], /--website-host 0\.0\.0\.0 is reachable from other machines: add --website-user/],
    ["website user without password", ["run", "health", "--localhost", "--website", "--website-user", "me"], /--website-user needs .* FIELDTEST_WEBSITE_PASSWORD/],
    ["half of the TLS pair", ["run", "health", "--localhost", "--website", "--website-tls-cert", "cert.pem"], /--website-tls-cert and --website-tls-key go together/],
    ["unreadable TLS file", ["run", "health", "--localhost", "--website", "--website-tls-cert", join(home, "none.pem"), "--website-tls-key", join(home, "none.key")], /--website-tls-cert .*none\.pem cannot be read/],
    ["website option without --website", ["run", "health", "--localhost", "--website-port", "8081"], /--website-port only applies with --website/],
    ["--monitoring without --prometheus", ["run", "health", "--localhost", "--monitoring"], /--monitoring only applies with --prometheus/],
    ["bad scrape interval", ["run", "health", "--localhost", "--prometheus", "--scrape-interval", "soon"], /--scrape-interval "soon" must be a Prometheus duration/],
    ["bad website port", ["run", "health", "--localhost", "--website", "--website-port", "80000"], /--website-port "80000" must be a port number/],
    ["--grafana without --prometheus", ["run", "health", "--localhost", "--grafana"], /--grafana only applies with --prometheus/],
    ["--grafana-port without --grafana", ["run", "health", "--localhost", "--prometheus", "--grafana-port", "3001"], /--grafana-port only applies with --grafana/],
    ["prometheus import of nothing", ["prometheus", "import", join(home, "no-run")], /no-run is not a directory: give a run directory/],
  ];

  for (const [title, args, message] of cases) {
    t.test(title, async (t) => {
      const result = await runCli(args, env);
      t.equal(result.code, 2, `exit code 2 for: fieldtest ${args.join(" ")}`);
      t.match(result.stderr, message);
    });
  }

  t.test("a busy website port is refused before any agent is made", async (t) => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = String((server.address() as AddressInfo).port);
    const result = await runCli(["run", "health", "--localhost", "--website", "--website-port", port], env);
    t.equal(result.code, 2);
    t.match(result.stderr, new RegExp(`--website-port ${port} is already in use`));
  });

  t.test("--prometheus without a prometheus binary says what to install and creates nothing", async (t) => {
    const result = await runCli(["run", "health", "--localhost", "--prometheus", "--prometheus-port", "19090"], { ...env, PATH: join(home, "empty-path") });
    t.equal(result.code, 1);
    t.match(result.stderr, /--prometheus needs the prometheus server binary on PATH: apt-get install prometheus/);
  });

  t.test("--grafana with an image this engine cannot get says how to get one and creates nothing", async (t) => {
    const result = await runCli(["run", "health", "--localhost", "--prometheus", "--prometheus-port", "19091", "--grafana", "--grafana-image", "fieldtest-test/no-such-grafana:none"], env);
    t.equal(result.code, 1);
    t.match(result.stderr, /--grafana: image fieldtest-test\/no-such-grafana:none is not on this Docker engine and could not be pulled .*docker load.*--grafana-image; nothing was created/);
  });

  t.test("bad input created nothing", async (t) => {
    t.equal(await ownedContainers(), 0, "no container appeared");
  });

  t.test("--help reads well and exits 0", async (t) => {
    const help = await runCli(["--help"], env);
    t.equal(help.code, 0);
    for (const command of ["run", "up", "list", "destroy", "reap"]) t.match(help.stdout, new RegExp(`^  ${command} `, "m"));
    t.match(help.stdout, /Examples:/);
    const runHelp = (await runCli(["run", "--help"], env)).stdout;
    for (const flag of ["--keep-alive", "--website", "--prometheus", "--monitoring", "--runs-dir"]) t.match(runHelp, flag);
    t.match((await runCli(["prometheus", "import", "--help"], env)).stdout, /serve a saved Prometheus snapshot|Starts a Prometheus that serves/);
  });
}
