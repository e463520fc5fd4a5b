// Cloud.connect at scale: a thousand handshakes started at once share the runner's one thread
// and outlast their own timeout; it keeps CONNECT_CONCURRENCY in flight. A TCP server that
// never speaks SSH holds each handshake open, so the in-flight count can be read off it.
import { createServer, type AddressInfo, type Socket } from "node:net";
import t from "tap";
import { parseInventory } from "../src/core/inventory.ts";
import { Cloud, CONNECT_CONCURRENCY } from "../src/runtime/cloud.ts";
import { generateEd25519KeyPair } from "../src/transport/keys.ts";

t.test("Cloud.connect keeps at most CONNECT_CONCURRENCY handshakes in flight and starts none after a failure", async (t) => {
  const open = new Set<Socket>();
  let accepted = 0;
  let most = 0;
  const server = createServer((socket) => {
    accepted++;
    open.add(socket);
    most = Math.max(most, open.size);
    socket.on("error", () => {});
    socket.once("close", () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  const hostKey = generateEd25519KeyPair("host").publicKey;
  const now = new Date();
  const inventory = parseInventory({
    namespace: "t-connect",
    target: "ssh",
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 3_600_000).toISOString(),
    agents: Array.from({ length: CONNECT_CONCURRENCY + 72 }, (_, i) => ({ name: `agent-${i + 1}`, host: "127.0.0.1", sshPort: port, user: "root", hostKey, portRange: [40000, 40009] })),
  });
  const connecting = Cloud.connect(inventory, { privateKey: generateEd25519KeyPair("client").privateKey, logSink: () => {} });
  connecting.catch(() => {});

  // Arrivals stop once the limit is in flight: every handshake waits for a server that never answers.
  for (let seen = -1; seen !== accepted; ) {
    seen = accepted;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  t.equal(most, CONNECT_CONCURRENCY, "the limit is in flight, no more");

  for (const socket of open) socket.destroy();
  await t.rejects(connecting, /connection closed during the handshake|ECONNRESET|failed/, "the first failed handshake fails the connect");
  t.equal(accepted, CONNECT_CONCURRENCY, "no handshake starts after the first failure");
});

t.test("the run's signal takes a listener per operation in flight without Node's leak warning", async (t) => {
  const now = new Date();
  const inventory = parseInventory({ namespace: "t-connect", target: "ssh", createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + 3_600_000).toISOString(), agents: [] });
  const run = new AbortController();
  const cloud = await Cloud.connect(inventory, { privateKey: generateEd25519KeyPair("client").privateKey, logSink: () => {}, signal: run.signal });
  t.teardown(() => cloud.close());
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.name);
  process.on("warning", onWarning);
  t.teardown(() => process.off("warning", onWarning));
  // Every exec, wait and copy of a fan-out adds one, as these do.
  for (let i = 0; i < 50; i++) run.signal.addEventListener("abort", () => {});
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(warnings, [], "no MaxListenersExceededWarning");
});
