// `run --detach` ships this machine's node to the agent; a macOS or arm64 laptop's node cannot
// run on a Linux x86-64 agent, so the agent's `uname -s -m` is compared first.
import t from "tap";
import { assertNodeRunsOn, nodeSystemOfUname } from "../src/runs/homes/node-binary.ts";

t.test("uname -s -m reads as node's platform and arch", async (t) => {
  t.same(nodeSystemOfUname("Linux x86_64\n"), { platform: "linux", arch: "x64" });
  t.same(nodeSystemOfUname("Linux aarch64"), { platform: "linux", arch: "arm64" });
  t.same(nodeSystemOfUname("Darwin arm64"), { platform: "darwin", arch: "arm64" });
  t.equal(nodeSystemOfUname("Plan9 mips"), undefined);
});

t.test("the same system passes; another is refused with what to do, before anything is sent", async (t) => {
  t.doesNotThrow(() => assertNodeRunsOn({ platform: "linux", arch: "x64" }, "Linux x86_64\n", "node-001"));
  t.throws(() => assertNodeRunsOn({ platform: "darwin", arch: "arm64" }, "Linux x86_64\n", "node-001"), /which is linux x64, but this node is built for darwin arm64/);
  t.throws(
    () => assertNodeRunsOn({ platform: "linux", arch: "arm64" }, "Linux x86_64", "orchestrator-001"),
    /on orchestrator-001, which is linux x64, but this node is built for linux arm64\. Start the detached run from a linux x64 machine[^]*Nothing was sent/,
  );
  t.throws(() => assertNodeRunsOn({ platform: "linux", arch: "x64" }, "", "node-001"), /which is ""[^]*Linux x86-64 machine/);
});
