// Issue 23, item 7: a fault request to an agent whose `fieldtest-fault serve` stopped answering
// (SIGSTOP inside a real agent, as a compromised or wedged agent would) rejects at its deadline,
// naming the agent, instead of leaving the scenario waiting forever.
import t from "tap";
import { FaultSession } from "../src/runtime/faults/session.ts";
import { requireDocker, testFleet } from "./helpers/fleet.ts";

t.test("a fault request to a stopped fieldtest-fault serve rejects at its deadline, naming the agent", async (t) => {
  const docker = await requireDocker(t);
  if (!docker) return;
  const { cloud } = await testFleet(t, docker, 2);
  const [a, b] = cloud.agents;
  const session = await FaultSession.open(a!, () => {}, 2000);
  await a!.exec(["pkill", "-STOP", "-f", "fieldtest-fault serve"]);
  t.teardown(() => a!.exec(["pkill", "-CONT", "-f", "fieldtest-fault serve"], { allowFailure: true }));
  const until = Date.now() + 60_000;
  const request = session.request(`apply stopped ${until} rules\nOUT -d ${b!.internalHost} -j DROP\n`);
  const outcome = await Promise.race([
    request.then(() => "answered", (error: Error) => error.message),
    new Promise<string>((resolve) => setTimeout(() => resolve("still pending after 10 s"), 10_000)),
  ]);
  t.match(outcome, /^agent-001: fieldtest-fault serve gave no answer to request "apply stopped \d+ rules" within 2 s/);
  // The session ended at the first deadline: a later request fails at once with that reason, not
  // after a deadline of its own (it would take the stalled answer to the first as its own).
  await t.rejects(session.request("heal stopped"), /^agent-001: fieldtest-fault serve gave no answer to request "apply stopped/, "the session is over: later answers could not be matched");
});
