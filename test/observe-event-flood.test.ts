import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import t from "tap";
import { requireDocker, ROOT, testFleet } from "./helpers/fleet.ts";

/** The documented bound (README, Observability): the runner's RSS with 20 stalled browsers during a 1 M-line flood. */
const RSS_BOUND_BYTES = 400 * 1024 * 1024;
const CLIENTS = 20;
const LINES = 1_000_000;

const docker = await requireDocker(t);
if (docker) {
  t.test(`${CLIENTS} browsers that never read /api/events during a ${LINES}-line daemon flood cannot grow the runner`, async (t) => {
    const fleet = await testFleet(t, docker, 1, { portsPerAgent: 2 });
    const inventoryPath = join(fleet.home, "inventory.json");
    await writeFile(inventoryPath, JSON.stringify(fleet.inventory));
    const runner = spawn(process.execPath, ["--import", "tsx", join(ROOT, "test/fixtures/event-flood-runner.ts"), inventoryPath, fleet.state.clientKeyPath, join(fleet.home, "runs"), String(LINES)], {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "inherit"],
    });
    t.teardown(() => runner.kill("SIGKILL"));
    const output = createInterface({ input: runner.stdout! })[Symbol.asyncIterator]();
    const first = (await output.next()).value as string;
    const url = new URL(first.replace(/^url /, ""));

    const clients: Socket[] = [];
    t.teardown(() => clients.forEach((c) => c.destroy()));
    for (let i = 0; i < CLIENTS; i++) {
      const socket = connect(Number(url.port), url.hostname);
      socket.on("error", () => {});
      socket.write(`GET /api/events HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
      // Never read: the kernel's buffers fill, then the runner's writes back up.
      socket.pause();
      clients.push(socket);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    runner.stdin!.write("go\n");
    const report = JSON.parse((await output.next()).value as string) as { peakRss: number; lines: number; floodSeconds: number; droppedClients: number };
    t.comment(`peak RSS ${(report.peakRss / 2 ** 20).toFixed(0)} MiB, ${report.lines} lines in ${report.floodSeconds.toFixed(1)} s, ${report.droppedClients} client(s) dropped`);
    t.equal(report.lines, LINES, "every line of the flood reached the runner");
    t.ok(report.peakRss < RSS_BOUND_BYTES, `runner RSS ${(report.peakRss / 2 ** 20).toFixed(0)} MiB stays under ${RSS_BOUND_BYTES / 2 ** 20} MiB`);
  });
}
