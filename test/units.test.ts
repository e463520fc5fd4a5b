import t from "tap";
import { parseInventory } from "../src/core/inventory.ts";
import { allocateSlices, overlaps } from "../src/targets/docker-engine/ports.ts";
import { quoteArg, quoteArgv } from "../src/transport/quote.ts";
import { LineSplitter } from "../src/runtime/line-splitter.ts";
import { defineScenario } from "../src/scenario/scenario.ts";
import { inCi } from "./helpers/ci.ts";

const agent = { name: "agent-001", host: "10.0.0.1", sshPort: 30000, user: "root", hostKey: "ssh-ed25519 AAAAC3Nza", portRange: [30000, 30099] };
const inventory = { namespace: "alice", target: "gcp", createdAt: "2026-01-01T00:00:00Z", expiresAt: "2026-01-01T02:00:00Z", agents: [agent] };

t.test("inventory: valid input parses, every problem names its field", async (t) => {
  t.same(parseInventory(inventory), { ...inventory, agents: [{ ...agent, labels: {} }] }, "every field kept, labels default to none");
  const full = { ...agent, internalHost: "10.1.0.1", group: "node", labels: { "fieldtest-namespace": "alice" }, inbox: { hostPath: "/h", agentPath: "/a" } };
  t.same(parseInventory({ ...inventory, agents: [full] }).agents, [full], "the optional fields pass through");
  t.throws(() => parseInventory({ ...inventory, target: "azure" }), /inventory.target: /);
  t.throws(() => parseInventory({ ...inventory, agents: [{ ...agent, portRange: [5, 1] }] }), /inventory.agents.0.portRange: portRange must be/);
  t.throws(() => parseInventory({ ...inventory, agents: [agent, agent] }), /inventory.agents.1.name: agent name "agent-001" appears twice/);
  t.throws(() => parseInventory({ ...inventory, agents: [{ ...agent, hostKey: "AAAA" }] }), /inventory.agents.0.hostKey: hostKey must be an OpenSSH public key/);
  t.throws(() => parseInventory({ ...inventory, namespace: "Bad" }), /inventory.namespace: /);
});

t.test("quoting keeps every byte of an argument", async (t) => {
  t.equal(quoteArg("plain-word_1.txt"), "plain-word_1.txt");
  t.equal(quoteArg("it's"), `'it'\\''s'`);
  t.equal(quoteArg(""), "''");
  for (const special of ["$HOME", "a b", "a;b", "*", "`id`", "a\nb", "~", "-"]) t.equal(quoteArg(special).startsWith("'"), special !== "-", `${JSON.stringify(special)} is quoted only if the shell would read it`);
  t.throws(() => quoteArg("a\0b"), /NUL byte/);
  t.throws(() => quoteArgv([]), /argv is empty/);
});

t.test("port slices skip taken ranges and busy ports", async (t) => {
  t.same(await allocateSlices([], 2, 100, async () => true), [[30000, 30099], [30100, 30199]]);
  t.same(await allocateSlices([[30000, 30149]], 1, 100, async () => true), [[30200, 30299]], "overlapping slice skipped");
  t.same(await allocateSlices([], 1, 100, async (port) => port !== 30000), [[30100, 30199]], "busy sshd port skipped");
  await t.rejects(allocateSlices([], 400, 100, async () => true), /no free port slices left/);
  t.same((await allocateSlices([], 355, 100, async () => true)).at(-1), [65400, 65499], "the last whole slice below 65535");
  await t.rejects(allocateSlices([], 356, 100, async () => true), /no free port slices left/, "a slice never runs past port 65535");
  t.ok(overlaps([1, 5], [5, 9]));
  t.notOk(overlaps([1, 4], [5, 9]));
});

t.test("line splitter holds partial lines", async (t) => {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  splitter.push("a\nb");
  splitter.push("c\n\nd");
  splitter.flush();
  t.same(lines, ["a", "bc", "", "d"]);
});

t.test("defineScenario validates its definition", async (t) => {
  t.equal(defineScenario({ name: "x", vms: 3, run() {} }).agentCount, 3);
  t.equal(defineScenario({ name: "x", run() {} }).agentCount, 1);
  t.throws(() => defineScenario({ name: "", run() {} }), /name: name is empty/);
  t.throws(() => defineScenario({ name: "x", agents: 2, vms: 2, run() {} }), /give agents or vms, not both/);
  t.throws(() => defineScenario({ name: "x", agents: 0, run() {} }), /agents: /);
});

t.test("Docker creation times sort by time, whatever their fraction's length", async (t) => {
  const { sortableTimestamp } = await import("../src/targets/docker-engine/provisioner.ts");
  const earlier = sortableTimestamp("2026-11-23T20:27:20.1234567Z");
  const later = sortableTimestamp("2026-11-23T20:27:20.12345678Z");
  t.ok(earlier < later);
  t.ok(sortableTimestamp("2026-11-23T20:27:20Z") < sortableTimestamp("2026-11-23T20:27:20.000000001Z"));
});

t.test("CI=true, CI=1 or a CI's own name all make missing test dependencies fail", async (t) => {
  for (const value of ["true", "1", "yes", "gitlab"]) t.equal(inCi({ CI: value }), true, `CI=${value}`);
  for (const value of [undefined, "", "0", "false"]) t.equal(inCi({ CI: value }), false, `CI=${value}`);
});
