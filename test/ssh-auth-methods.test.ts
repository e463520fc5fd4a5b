// What the runner asks of an SSH server to authenticate: its key, and nothing first. Every
// connection to an agent (readiness, the run) pays for each round trip of the handshake, and
// sshd answers a failed `none` attempt only after its minimum delay for failures.
import type { AddressInfo } from "node:net";
import ssh2 from "ssh2";
import t from "tap";
import { generateEd25519KeyPair } from "../src/transport/keys.ts";
import { SshConnection } from "../src/transport/ssh-connection.ts";

const { Server } = ssh2;

t.test("the client key is the first and only method offered", async (t) => {
  const hostKey = generateEd25519KeyPair("host");
  const clientKey = generateEd25519KeyPair("client");
  const methods: string[] = [];
  const server = new Server({ hostKeys: [hostKey.privateKey] }, (client) => {
    client.on("error", () => {});
    client.on("authentication", (context) => {
      methods.push(context.method);
      // Accept the key: the query without a signature, then the signed request.
      if (context.method === "publickey") return context.accept();
      context.reject(["publickey"]);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;

  const connection = new SshConnection({ label: "agent-001", host: "127.0.0.1", port, user: "root", hostKey: hostKey.publicKey, privateKey: clientKey.privateKey }, 5_000);
  t.teardown(() => connection.close());
  await connection.get();
  t.same(new Set(methods), new Set(["publickey"]), "no `none` attempt before the key");
});
