// The tunnel of `fieldtest website`, with a plain TCP connection standing in for the agent's
// direct-tcpip channel (the end-to-end test through SSH is in long-runs-ssh.test.ts).
import { createServer as createHttpServer } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import t from "tap";
import { fleetWebsiteAddress, openWebsiteTunnel } from "../src/runs/website-tunnel.ts";

t.test("where the first agent reaches a website: its listen address, or the runner's own address when it listens on all", async (t) => {
  t.same(fleetWebsiteAddress("http://127.0.0.1:41234"), { scheme: "http", host: "127.0.0.1", port: 41234 });
  t.same(fleetWebsiteAddress("https://127.0.0.1"), { scheme: "https", host: "127.0.0.1", port: 443 });
  const own = Object.values(networkInterfaces()).flat().find((a) => a && a.family === "IPv4" && !a.internal)?.address ?? "127.0.0.1";
  t.same(fleetWebsiteAddress("http://0.0.0.0:8080"), { scheme: "http", host: own, port: 8080 });
});

/** One HTTP/1.0 GET on a connection of its own: what came back before the connection closed. */
function getOnNewConnection(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.write("GET / HTTP/1.0\r\n\r\n"));
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk));
    socket.on("error", () => {});
    socket.on("close", () => resolve(answer));
  });
}

t.test("each connection is carried to the website; one whose channel cannot open is closed and said", async (t) => {
  const server = createHttpServer((_request, response) => response.end("the run's page"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const website = { scheme: "http" as const, host: "127.0.0.1", port: (server.address() as AddressInfo).port };
  const errors: string[] = [];
  let fail = false;
  const tunnel = await openWebsiteTunnel(
    async () => {
      if (fail) throw new Error("open failed (administratively prohibited)");
      return connect(website.port, website.host);
    },
    { website, port: 0, onError: (message) => errors.push(message) },
  );
  t.teardown(() => tunnel.close());
  t.match(tunnel.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const port = Number(new URL(tunnel.url).port);
  for (let i = 0; i < 3; i++) t.match(await getOnNewConnection(port), /^HTTP\/1\.1 200[^]*the run's page$/, `connection ${i + 1} through the tunnel`);
  fail = true;
  t.equal(await getOnNewConnection(port), "", "a connection whose channel could not open is closed with nothing");
  t.match(errors, [new RegExp(`cannot reach the website at 127\\.0\\.0\\.1:${website.port} from the fleet: open failed`)]);
  fail = false;
  t.equal(await (await fetch(`${tunnel.url}/`)).text(), "the run's page", "the tunnel goes on for the next connection, and fetch works through it");
});
