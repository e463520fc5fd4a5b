// pollUntil, the loop under every readiness wait: what its timeout reports.
import t from "tap";
import { pollUntil, WaitTimeoutError } from "../src/runtime/wait/poll.ts";

const describe = (problem: string) => `waited: ${problem}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test("a timeout reports the last attempt that ended in time, not one the deadline cut short", async (t) => {
  let attempts = 0;
  const waiting = pollUntil(300, async (remaining) => {
    attempts++;
    if (attempts === 1) return { done: false, problem: "the last answer was status 404" };
    // Runs past the deadline, as a request cut by its own timeout does.
    await sleep(remaining + 20);
    return { done: false, problem: "the last attempt failed: socket hang up" };
  }, describe);
  await t.rejects(waiting, new WaitTimeoutError("waited: the last answer was status 404"));
  t.equal(attempts, 2);
});

t.test("a single attempt cut short is still reported, and a later answer replaces an earlier one", async (t) => {
  await t.rejects(pollUntil(50, async (remaining) => (await sleep(remaining + 10), { done: false, problem: "no answer within 50 ms" }), describe), new WaitTimeoutError("waited: no answer within 50 ms"));
  let attempts = 0;
  const problems = ["refused", "the last answer was status 503"];
  await t.rejects(
    pollUntil(200, async () => {
      const problem = problems[Math.min(attempts++, problems.length - 1)]!;
      return { done: false, problem };
    }, describe),
    new WaitTimeoutError("waited: the last answer was status 503"),
  );
  t.equal(await pollUntil(1000, async () => ({ done: true, value: 7 }), describe), 7);
});
