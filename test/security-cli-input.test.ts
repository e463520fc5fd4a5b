// Issue 23, item 9: `runs --inventory` with a file that is missing or not an inventory is bad
// input (exit 2 with the message), not an empty table.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { runCli, tempHome } from "./helpers/fleet.ts";

t.test("runs --inventory <missing or invalid file> exits 2 with the message", async (t) => {
  const home = await tempHome(t);
  const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" };
  const missing = await runCli(["runs", "--inventory", join(home, "nope.json"), "--ssh-key", join(home, "key")], env);
  t.equal(missing.code, 2, missing.stderr);
  t.match(missing.stderr, /nope\.json/);
  t.equal(missing.stdout, "", "no table");
  const invalid = join(home, "bad.json");
  await writeFile(invalid, JSON.stringify({ namespace: "x", agents: "none" }));
  const bad = await runCli(["runs", "--inventory", invalid, "--ssh-key", join(home, "key")], env);
  t.equal(bad.code, 2, bad.stderr);
  t.match(bad.stderr, /bad\.json|agents/);
});
