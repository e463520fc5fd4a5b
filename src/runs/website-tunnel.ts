import { createServer, type AddressInfo, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import type { Duplex } from "node:stream";
import type { RunStatus } from "./record.ts";

/** Where a run's website is, as the fleet's first agent reaches it (status.json's `website`). */
export type FleetWebsite = NonNullable<RunStatus["website"]>;

/**
 * Where the fleet's first agent reaches the website at `url`, for a runner that shares its
 * network (a runner container of the fleet, on its first host): a website listening on
 * every address is reached at this container's or host's own first address; one on an address
 * (loopback on the host's network) there.
 */
export function fleetWebsiteAddress(url: string): FleetWebsite {
  const parsed = new URL(url);
  const listen = parsed.hostname.replace(/^\[|\]$/g, "");
  const everywhere = listen === "0.0.0.0" || listen === "::";
  const own = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
  return {
    scheme: parsed.protocol === "https:" ? "https" : "http",
    host: everywhere ? (own ?? "127.0.0.1") : listen,
    port: Number(parsed.port || (parsed.protocol === "https:" ? 443 : 80)),
  };
}

export interface WebsiteTunnel {
  /** The local address, `http://127.0.0.1:<port>` (https when the website has TLS). */
  url: string;
  close(): Promise<void>;
}

/**
 * Listens on this machine's loopback and carries each connection through `open` (an SSH
 * direct-tcpip channel of the agent) to the run's website. A connection whose channel cannot
 * be opened is closed, and `onError` says why; the tunnel goes on for the next one.
 */
export async function openWebsiteTunnel(open: () => Promise<Duplex>, options: { website: FleetWebsite; port: number; onError: (message: string) => void }): Promise<WebsiteTunnel> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.pause();
    open().then(
      (channel) => {
        if (socket.destroyed) return void channel.destroy();
        // Either side ending or failing ends both.
        const end = () => {
          socket.destroy();
          channel.destroy();
        };
        socket.once("error", end).once("close", end);
        channel.once("error", end).once("close", end);
        socket.pipe(channel).pipe(socket);
        socket.resume();
      },
      (error: Error) => {
        options.onError(`cannot reach the website at ${options.website.host}:${options.website.port} from the fleet: ${error.message}`);
        socket.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.website.scheme}://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
