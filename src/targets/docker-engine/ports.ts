import { createServer } from "node:net";

/** Localhost agents share the host's network, so each gets a disjoint slice of ports. */
export const FIRST_AGENT_PORT = 30000;
export const LAST_USABLE_PORT = 65535;
export const DEFAULT_PORTS_PER_AGENT = 100;

export type PortRange = readonly [number, number];

export function overlaps(a: PortRange, b: PortRange): boolean {
  return a[0] <= b[1] && b[0] <= a[1];
}

export function formatRange([first, last]: PortRange): string {
  return `${first}-${last}`;
}

export function parseRange(text: string | undefined): PortRange | undefined {
  const match = /^(\d+)-(\d+)$/.exec(text ?? "");
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/**
 * Picks `count` slices of `size` ports, lowest first from 30000, that overlap no slice in
 * `taken` and whose first port (where sshd will listen) nothing on the host holds.
 */
export async function allocateSlices(
  taken: readonly PortRange[],
  count: number,
  size: number,
  isPortFree: (port: number) => Promise<boolean> = portIsFree,
): Promise<PortRange[]> {
  const chosen: PortRange[] = [];
  for (let first = FIRST_AGENT_PORT; chosen.length < count; first += size) {
    const slice: PortRange = [first, first + size - 1];
    if (slice[1] > LAST_USABLE_PORT) {
      throw new Error(`no free port slices left: ${count} agents × ${size} ports do not fit between ${FIRST_AGENT_PORT} and ${LAST_USABLE_PORT}; destroy idle namespaces or lower --ports-per-agent`);
    }
    const clash = [...taken, ...chosen].some((other) => overlaps(slice, other));
    if (!clash && (await isPortFree(first))) chosen.push(slice);
  }
  return chosen;
}

export function portIsFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
