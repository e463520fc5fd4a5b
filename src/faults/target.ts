import type { ExecOptions, ExecResult } from "../runtime/exec.ts";
import type { Command } from "../runtime/quote.ts";

/** What faults need of an agent: its name, its fleet address, its labels and exec. */
export interface FaultAgent {
  readonly name: string;
  readonly internalHost: string;
  readonly labels: Readonly<Record<string, string>>;
  exec(command: Command, options?: ExecOptions): Promise<ExecResult>;
}

/** One agent or several, wherever a fault takes agents. */
export type Agents<A extends FaultAgent = FaultAgent> = A | readonly A[];
