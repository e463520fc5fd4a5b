/**
 * An agent's port slice, shared by the scenario and fieldtest's own short-lived listeners: the
 * scenario's `nextPort()` takes ports upwards from the bottom for good; fieldtest borrows from
 * the top (a broadcast's relay, for the length of one copy) and gives them back, so a scenario
 * sees the same ports whether or not a copy ran before, as long as the slice is not nearly full.
 */
export class PortSlice {
  private nextFree: number;
  private readonly lent = new Set<number>();

  constructor(
    private readonly agentName: string,
    private readonly range: readonly [number, number],
    /** Never handed out nor lent: sshd's ports, where they sit inside the slice. */
    private readonly reserved: ReadonlySet<number>,
  ) {
    this.nextFree = range[0];
  }

  /** The next port for the scenario; throws once the slice is used up. */
  next(): number {
    const [first, last] = this.range;
    while (this.nextFree <= last && (this.reserved.has(this.nextFree) || this.lent.has(this.nextFree))) this.nextFree++;
    if (this.nextFree > last) {
      throw new Error(`${this.agentName}: port range ${first}-${last} is exhausted; provision with more ports per agent (--ports-per-agent)`);
    }
    return this.nextFree++;
  }

  /** Up to `count` ports from the top of the slice that neither the scenario nor another borrower holds. */
  borrow(count: number): number[] {
    const ports: number[] = [];
    for (let port = this.range[1]; port >= this.nextFree && ports.length < count; port--) {
      if (this.reserved.has(port) || this.lent.has(port)) continue;
      this.lent.add(port);
      ports.push(port);
    }
    return ports;
  }

  giveBack(ports: readonly number[]): void {
    for (const port of ports) this.lent.delete(port);
  }
}
