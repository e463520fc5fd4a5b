import type { ExecOptions, ExecResult } from "../../transport/exec.ts";
import type { Command } from "../../transport/quote.ts";
import type { RemoteProcess } from "../../transport/ssh-connection.ts";

/** What faults need of an agent: its name, its fleet address, its labels, exec and a raw channel. */
export interface FaultAgent {
  readonly name: string;
  readonly internalHost: string;
  readonly labels: Readonly<Record<string, string>>;
  exec(command: Command, options?: ExecOptions): Promise<ExecResult>;
  /** A channel whose stdin stays open: the resident `fieldtest-fault serve` session. */
  openChannel(line: string): Promise<RemoteProcess>;
}

/** One agent or several, wherever a fault takes agents. */
export type Agents<A extends FaultAgent = FaultAgent> = A | readonly A[];
