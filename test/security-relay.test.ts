// Issue 23, item 6: the broadcast relay's token never appears in a command line, where any user
// of an agent could read it from /proc and feed the relay bytes of their own. Checked with `ps`
// on a real agent while its relay is paused mid-stream.
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { manifestPath, partialPath } from "../src/runtime/copy.ts";
import { quoteArg } from "../src/transport/quote.ts";
import { requireDocker, tempHome, testFleet } from "./helpers/fleet.ts";

t.test("no relay token in any process's argv during a broadcast", async (t) => {
  const docker = await requireDocker(t);
  if (!docker) return;
  const { cloud } = await testFleet(t, docker, 3);
  const agents = cloud.agents;
  const local = join(await tempHome(t), "blob");
  await writeFile(local, randomBytes(8 << 20));
  const remote = "relay-token/blob";
  const watcher = agents[1]!;
  // Pauses the relay once it holds 1 MiB, lists every command line as an unprivileged user would, resumes.
  const seen = watcher.exec(
    `p=${quoteArg(partialPath(remote))}; for i in $(seq 3000); do s=$(stat -c %s "$p" 2>/dev/null || echo 0); ` +
      `if [ "$s" -ge 1048576 ]; then pkill -STOP -f '^fieldtest-relay'; ps -eo args; pkill -CONT -f '^fieldtest-relay'; exit 0; fi; sleep 0.01; done; exit 1`,
  );
  const copied = await cloud.copy(agents, local, remote);
  const { stdout } = await seen;
  t.same(copied.failed, []);
  t.match(stdout, /fieldtest-relay relay/, "the relay was seen running");
  t.match(stdout, / relay "\$p" \d+ [\d,]+ /, "the relays' shells were listed");
  // The token is 32 hex digits, wherever an argv might put it. The only other such word is the
  // manifest's name in the commit line (the content hash there is 64 digits).
  const manifest = manifestPath(remote).split("/").pop();
  const hexWords = [...stdout.matchAll(/(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])/g)].map((m) => m[0]);
  t.same(hexWords.filter((word) => word !== manifest), [], "no command line holds a 128-bit token");
});
