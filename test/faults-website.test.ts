// The website's fault timeline in Chromium, fed by real faults: a Nemesis on real agents records
// its events in a run history the way `fieldtest run` does, and the page draws their windows.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { Nemesis } from "../src/runtime/faults/nemesis.ts";
import { HistoryWriter } from "../src/runtime/history/writer.ts";
import { MetricStore } from "../src/observe/metrics.ts";
import { RunState } from "../src/observe/run-state.ts";
import { startWebsite } from "../src/observe/website.ts";
import type { Agent } from "../src/runtime/agent.ts";
import { haveBinary, openPage } from "./fixtures/binaries.ts";
import { requireDocker, testFleet } from "./helpers/fleet.ts";

t.setTimeout(180_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const docker = await requireDocker(t);
if (docker && haveBinary(t, "chromium")) {
  const fleet = await testFleet(t, docker, 3);
  const [a, b, c] = fleet.cloud.agents as [Agent, Agent, Agent];
  const history = HistoryWriter.create(join(fleet.home, "history.jsonl"));
  t.teardown(() => history.close());
  const nemesis = new Nemesis(fleet.cloud.agents, { observer: { faultEvent: ({ type, ...data }) => history.recordEvent(type, data) } });
  t.teardown(() => nemesis.heal());
  const state = new RunState({ inventory: fleet.inventory, scenario: "faults", clientKeyPath: "/keys/id", knownHostsPath: "/keys/known_hosts" });
  const site = await startWebsite({ state, metrics: new MetricStore(), port: 0, history: { path: history.path, checks: () => null } });
  t.teardown(() => site.close());

  t.test("the timeline shows each fault's window, kind and targets, live", async (t) => {
    const partition = await nemesis.partition([[a], [b, c]]);
    await sleep(1000);
    await partition.heal();
    await sleep(500);
    const cut = await nemesis.cut({ from: b, to: c });

    const { page, problems } = await openPage(t, site.url);

    const lane = (id: string, state: "active" | "healed") => page.locator(`.fault-lane[data-fault="${id}"][data-state="${state}"]`);
    await lane(partition.id, "healed").waitFor();
    await lane(cut.id, "active").waitFor();
    t.match(await page.locator("#fault-count").textContent(), "(2, 1 active)");
    t.match(await page.locator(`#faults tr[data-fault="${partition.id}"]`).textContent(), /^partition.*agent-001, agent-002, agent-003iptables\d+\.\ds\d+\.\ds \(heal\)\{"grudge"/);
    t.match(await page.locator(`#faults tr[data-fault="${cut.id}"]`).textContent(), /^cut.*agent-002, agent-003iptables\d+\.\ds.*active, heals by \d\d:\d\d:\d\d/);

    const bar = async (id: string) => (await page.locator(`.fault-lane[data-fault="${id}"] .fault-bar`).boundingBox())!;
    const track = (await page.locator(`.fault-lane[data-fault="${cut.id}"] .fault-track`).boundingBox())!;
    const held = await bar(partition.id);
    const open = await bar(cut.id);
    t.ok(held.x + held.width < open.x, "the partition's window ends before the cut's begins (0.5 s apart)");
    t.ok(held.width > track.width / 20, `the partition's 1 s window has a visible width (${held.width.toFixed(0)} of ${track.width.toFixed(0)} px)`);
    t.ok(open.x + open.width > track.x + track.width * 0.97, "the active cut reaches to now, the end of the track");

    await cut.heal();
    // The page follows the history without a reload.
    await lane(cut.id, "healed").waitFor({ timeout: 10_000 });
    t.match(await page.locator(`#faults tr[data-fault="${cut.id}"]`).textContent(), /\d+\.\ds \(heal\)/);
    t.match(await page.locator("#fault-count").textContent(), "(2, 0 active)");

    const artifacts = join(process.cwd(), ".tap", "artifacts");
    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "faults-website.png"), fullPage: true });
    t.same(problems, [], "no script errors in the page");
  });
}
