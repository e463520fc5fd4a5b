import type Docker from "dockerode";
import type { Namespace } from "../core/namespace.ts";
import { NamespaceState, stateHome } from "./state.ts";

/** What a target needs from its caller (the CLI passes its own context, a program its own). */
export interface TargetContext {
  env: NodeJS.ProcessEnv;
  /** The fieldtest package root: its dockerfiles/ and Pulumi project. */
  packageRoot: string;
  /** This machine's Docker engine. */
  docker(): Docker;
  /** Where long operations (Pulumi's own output) write their progress. */
  stderr: NodeJS.WritableStream;
}

/** Bad input: the operation did nothing (the CLI exits with status 2). */
export class FleetInputError extends Error {}

export function namespaceState(context: Pick<TargetContext, "env">, namespace: Namespace): NamespaceState {
  return new NamespaceState(stateHome(context.env), namespace);
}
