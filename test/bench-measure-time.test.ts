// The broadcast bench's fleet outlived by its own measure (issue 25): the TTL a measure's agents
// get, and the rows a measure cut off part way still reports. No bench is run here.
import t from "tap";
import { FULL, SMOKE, type MeasureResult } from "../bench/lib/context.ts";
import { MeasureCutOff, stepsUntilCutOff, ttlCovering } from "../bench/lib/measure-time.ts";
import { row } from "../bench/lib/result.ts";
import { overRounds } from "../bench/lib/stats.ts";
import { broadcastExpectedSeconds } from "../bench/measures/broadcast.ts";

t.test("the broadcast measure's fleet outlives the run that its old 20-minute TTL cut off", async (t) => {
  const ttl = ttlCovering(broadcastExpectedSeconds(FULL));
  // The failed run of 2026-12: broadcasts of 17.4, 17.8 and 18.9 s, direct copies to 30 agents in
  // 504 s, and the agents gone at 1,200 s while its last scp baseline was still sending.
  t.ok(broadcastExpectedSeconds(FULL) > 1200, `expected ${broadcastExpectedSeconds(FULL).toFixed(0)} s: more than the old TTL, which is why it was cut off`);
  t.ok(ttl >= 2 * 1200, `TTL ${ttl} s: at least twice the time the measure had already run when it was cut off`);
  t.ok(ttlCovering(broadcastExpectedSeconds(SMOKE)) >= 600, "even the smoke sizes get ten minutes of margin");
  t.ok(broadcastExpectedSeconds({ ...FULL, broadcastSizes: [1, 10, 30, 60] }) > broadcastExpectedSeconds(FULL), "more agents, a longer TTL");
  t.ok(broadcastExpectedSeconds({ ...FULL, broadcastMbit: 50 }) > broadcastExpectedSeconds(FULL), "a slower link, a longer TTL");
});

const sample = (n: number): MeasureResult =>
  row({ measure: "m", name: `to ${n}`, unit: "s", better: "lower", fieldtest: overRounds([n]), baselineName: "b", baseline: overRounds([n * 2]), goal: null });

t.test("a measure cut off part way reports the rows of the steps it completed, and why it stopped", async (t) => {
  const ran: number[] = [];
  const step = (n: number) => async () => {
    ran.push(n);
    if (n === 30) throw new Error("scp to agent-008 failed (exit 1): Connection to 10.0.0.8 closed by remote host");
    return n;
  };
  const cut = await stepsUntilCutOff("broadcast", [1, 10, 30, 60].map(step), (done) => done.map(sample)).then(
    () => undefined,
    (error: unknown) => error,
  );
  t.ok(cut instanceof MeasureCutOff, "a MeasureCutOff");
  const { rows, measure, message } = cut as MeasureCutOff;
  t.equal(measure, "broadcast");
  t.same(rows.map((r) => r.name), ["to 1", "to 10"], "the rows of the sizes done before the failure");
  t.match(message, /broadcast: cut off after 2 row\(s\): scp to agent-008 failed/, "the message says where and why");
  t.same(ran, [1, 10, 30], "nothing runs after the failed step");
});

t.test("a measure that completes reports every row; one that fails at once fails with its own error", async (t) => {
  t.same((await stepsUntilCutOff("m", [1, 2].map((n) => async () => n), (done) => done.map(sample))).map((r) => r.name), ["to 1", "to 2"]);
  const first = new Error("no agent came up");
  await t.rejects(stepsUntilCutOff("m", [async () => Promise.reject(first)], (done) => done.map(sample)), first, "no rows: the step's error, not a cut-off");
});
