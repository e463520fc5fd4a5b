// Bad agent counts on every path that takes one: exit 2, the flag and the value named, and
// nothing made (no container of this test's owner, no state directory, no run directory).
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import t from "tap";
import { LABELS } from "../src/core/namespace.ts";
import { listFieldtestContainers } from "../src/targets/docker-engine/provisioner.ts";
import { cleanupNamespace, requireDocker, runCli, tempHome, uniqueNamespace } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  const home = await tempHome(t);
  const owner = `counts-${randomBytes(4).toString("hex")}`;
  // No Pulumi CLI on this PATH: a cloud `up` that got past the counts would fail later, not create.
  const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "", FIELDTEST_OWNER: owner, PATH: "/usr/bin:/bin" };
  const namespace = uniqueNamespace("counts");
  // Should a count get through, what it made goes at the end, not at its TTL.
  cleanupNamespace(t, docker, namespace);
  const gcp = ["--cloud", "gcp", "--project", "p", "--zone", "europe-west1-b", "--ssh-source-range", "203.0.113.7/32", "--namespace", namespace];
  const cases: Array<[string, string[], RegExp]> = [
    ["negative --vms, run", ["run", "health", "--localhost", "--vms", "-1"], /--vms "-1" must be a whole number of at least 1/],
    ["negative --vms=, run", ["run", "health", "--localhost", "--vms=-5"], /--vms "-5" must be a whole number of at least 1/],
    ["negative --vms, up", ["up", "--localhost", "--namespace", namespace, "--vms", "-3"], /--vms "-3" must be a whole number of at least 1/],
    ["negative --vms, ssh hosts", ["up", "--ssh-host", "root@127.0.0.1", "--namespace", namespace, "--vms", "-1"], /--vms "-1" must be a whole number of at least 1/],
    ["negative --vms, cloud", ["up", ...gcp, "--vms", "-2"], /--vms "-2" must be a whole number of at least 1/],
    ["minus zero", ["up", "--localhost", "--namespace", namespace, "--vms", "-0"], /--vms "-0" must be a whole number of at least 1/],
    ["a fraction", ["up", "--localhost", "--namespace", namespace, "--vms", "1.5"], /--vms "1\.5" must be a whole number/],
    ["an exponent", ["up", "--localhost", "--namespace", namespace, "--vms", "1e3"], /--vms "1e3" must be a whole number/],
    ["hexadecimal", ["up", "--localhost", "--namespace", namespace, "--vms", "0x10"], /--vms "0x10" must be a whole number/],
    ["a sign", ["up", "--localhost", "--namespace", namespace, "--vms", "+3"], /--vms "\+3" must be a whole number/],
    ["empty", ["up", "--localhost", "--namespace", namespace, "--vms", ""], /--vms "" must be a whole number/],
    ["negative --max-vms", ["up", "--localhost", "--namespace", namespace, "--max-vms", "-1"], /--max-vms "-1" must be a whole number of at least 1/],
    ["negative --ports-per-agent", ["up", "--localhost", "--namespace", namespace, "--ports-per-agent", "-1"], /--ports-per-agent "-1" must be a whole number of at least 1/],
    ["negative scenario group", ["run", "health", "--localhost", "--group", "agent=-1"], /--group "agent=-1" is not <group>=<count>/],
    ["negative cloud group", ["up", ...gcp, "--group", "a:-1:e2-small"], /--group "a:-1:e2-small" is not <name>:<count>/],
  ];
  for (const [title, args, message] of cases) {
    t.test(title, async (t) => {
      const result = await runCli(args, env);
      t.equal(result.code, 2, `exit code 2 for: fieldtest ${args.join(" ")}\n${result.stderr}`);
      t.match(result.stderr, message);
    });
  }

  t.test("nothing was made", async (t) => {
    t.equal((await listFieldtestContainers(docker)).filter((c) => c.Labels[LABELS.owner] === owner).length, 0, "no container of this owner");
    t.same(await readdir(home), [], "no state or run directory");
  });
}
