// Ready is an SSH handshake that verified the pinned host key and authenticated the client, not
// an open port: on loopback ssh2 servers that accept, refuse the client, or present another key.
import type { AddressInfo } from "node:net";
import ssh2 from "ssh2";
import t, { type Test } from "tap";
import type { AgentSpec } from "../src/core/inventory.ts";
import { waitForSsh } from "../src/targets/docker-engine/readiness.ts";
import { generateEd25519KeyPair, type SshKeyPair } from "../src/transport/keys.ts";
import { HostKeyMismatchError } from "../src/transport/ssh-connection.ts";

const { Server } = ssh2;
const hostKey = generateEd25519KeyPair("host");
const clientKey = generateEd25519KeyPair("client");

/** A server with `key` as its host key that accepts the client key or refuses every attempt. */
async function server(t: Test, key: SshKeyPair, accept: boolean): Promise<number> {
  const server = new Server({ hostKeys: [key.privateKey] }, (client) => {
    client.on("error", () => {});
    client.on("authentication", (context) => (accept ? context.accept() : context.reject(["publickey"])));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

function agent(port: number): AgentSpec {
  return { name: "agent-001", host: "127.0.0.1", internalHost: "127.0.0.1", sshPort: port, user: "root", hostKey: hostKey.publicKey, portRange: [port, port], labels: {} };
}

t.test("an agent that authenticates the client with the pinned host key is ready", async (t) => {
  const port = await server(t, hostKey, true);
  await t.resolves(waitForSsh(agent(port), clientKey.privateKey, { deadline: Date.now() + 5_000 }));
});

t.test("an open port whose server refuses the client key is never ready", async (t) => {
  const port = await server(t, hostKey, false);
  await t.rejects(waitForSsh(agent(port), clientKey.privateKey, { deadline: Date.now() + 1_000 }), /agent-001 was not SSH-ready at 127\.0\.0\.1:\d+ in time: .*authentication methods failed/);
});

t.test("a server with another host key is refused at once", async (t) => {
  const port = await server(t, generateEd25519KeyPair("impostor"), true);
  const started = Date.now();
  const error = await waitForSsh(agent(port), clientKey.privateKey, { deadline: Date.now() + 5_000 }).catch((e: Error) => e);
  t.type(error, HostKeyMismatchError);
  t.match(String(error), /host key of 127\.0\.0\.1:\d+ does not match the pinned key/);
  t.ok(Date.now() - started < 2_000, "without waiting for the deadline");
});
