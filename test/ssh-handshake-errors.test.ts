// A server that is not (or stops being) an SSH server must fail that one connection with the
// agent's name, never end the runner's process through an unhandled ssh2 "error" event.
import { createServer, type AddressInfo, type Socket } from "node:net";
import t, { type Test } from "tap";
import { generateEd25519KeyPair } from "../src/transport/keys.ts";
import { SshConnection } from "../src/transport/ssh-connection.ts";

/** A loopback server that treats each connection with `serve`. */
async function fakeServer(t: Test, serve: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    serve(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as AddressInfo).port;
}

function connectionTo(port: number): SshConnection {
  const client = generateEd25519KeyPair("client");
  return new SshConnection({ label: "agent-007", host: "127.0.0.1", port, user: "root", hostKey: generateEd25519KeyPair("host").publicKey, privateKey: client.privateKey }, 5_000);
}

const cases: Array<[string, (socket: Socket) => void, RegExp]> = [
  ["a server that answers in another protocol", (socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"), /agent-007: SSH to root@127\.0\.0\.1:\d+ failed: /],
  ["an SSH banner followed by garbage", (socket) => socket.write(`SSH-2.0-OpenSSH_9.2\r\n${"\u0000\u0000\u0000\u0010garbage-packet!!".repeat(64)}`), /agent-007: SSH to root@127\.0\.0\.1:\d+ failed: /],
  ["a server that closes at once", (socket) => socket.destroy(), /agent-007: SSH to root@127\.0\.0\.1:\d+ failed: /],
];

for (const [name, serve, error] of cases) {
  t.test(`${name} fails the connection, not the process`, async (t) => {
    const port = await fakeServer(t, serve);
    const connection = connectionTo(port);
    t.teardown(() => connection.close());
    await t.rejects(connection.get(), error);
    // The process is still here and the connection can be tried again (it fails the same way).
    await t.rejects(connection.get(), error);
  });
}
