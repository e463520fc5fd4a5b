import t from "tap";
import { Agent } from "../src/runtime/agent.ts";
import { HashCache } from "../src/runtime/hash-cache.ts";
import { PortSlice } from "../src/runtime/port-slice.ts";
import { generateEd25519KeyPair } from "../src/transport/keys.ts";

t.test("the scenario takes ports from the bottom, fieldtest borrows from the top and gives them back", async (t) => {
  const slice = new PortSlice("agent-001", [30000, 30009], new Set([30000]));
  t.equal(slice.next(), 30001, "sshd's port is never handed out");
  const borrowed = slice.borrow(3);
  t.same(borrowed, [30009, 30008, 30007], "borrowed from the top");
  t.same([slice.next(), slice.next()], [30002, 30003], "the scenario's ports do not move because of a copy");
  t.same(slice.borrow(2), [30006, 30005], "a second borrower gets other ports");
  slice.giveBack(borrowed);
  t.same(slice.borrow(1), [30009], "given back, a port can be borrowed again");
  t.same([slice.next(), slice.next()], [30004, 30007], "the scenario skips ports that are lent out");
  t.same(slice.borrow(5), [30008], "a borrower never gets a port the scenario holds");
  t.throws(() => slice.next(), /port range 30000-30009 is exhausted/);
});

t.test("an agent whose sshd is published on another host port still never hands out its in-network sshd port", async (t) => {
  const hashes = new HashCache();
  t.teardown(() => hashes.close());
  const spec = {
    name: "agent-001", host: "203.0.113.5", internalHost: "172.20.3.2", sshPort: 30150, user: "root",
    hostKey: generateEd25519KeyPair("h").publicKey, portRange: [30000, 30009] as [number, number], labels: {},
  };
  const agent = new Agent(spec, { privateKey: generateEd25519KeyPair("c").privateKey, hashes, logSink: () => {} });
  t.equal(agent.nextPort(), 30001, "30000 is where its sshd listens inside its own network");
  await agent.close();
});
