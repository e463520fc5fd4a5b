import { namespaceSchema, type Namespace } from "../core/namespace.ts";
import type { TargetContext } from "./context.ts";
import { allTargets, openNamespace } from "./registry.ts";
import { namespacesInState, stateHome } from "./state.ts";
import type { OpenNamespace, ReapedContainer, ReapRequest, Reaper, StackReap, TargetReap } from "./target.ts";

export interface ReapReport {
  dryRun: boolean;
  expired: ReapedContainer[];
  stacks: StackReap;
  /** Namespaces whose fleet expired and is gone, and whose state directory was (or would be) removed. */
  states: string[];
  /** SSH hosts that could not be reaped, and why. */
  unreachable: Array<{ host: string; error: string }>;
}

/** The namespaces this machine keeps state for, each opened through its target. */
export async function recordedNamespaces(context: TargetContext): Promise<OpenNamespace[]> {
  const names = (await namespacesInState(stateHome(context.env))).filter((name): name is Namespace => namespaceSchema.safeParse(name).success);
  return Promise.all(names.map((namespace) => openNamespace(context, namespace)));
}

/**
 * Removes what has expired everywhere this machine knows of: each target's reaper runs once, in
 * the registry's order, with the recorded namespaces of its targets; then the state directories
 * of namespaces that expired and have nothing left go.
 */
export async function reapEverything(context: TargetContext & { cwd: string }, request: ReapRequest): Promise<ReapReport> {
  const namespaces = await recordedNamespaces(context);
  // Removed by this reap (or, dry, that would be): they count as gone below.
  const gone = new Set<string>();
  const reapers = new Set<Reaper>(allTargets().map((target) => target.reaper));
  const reports: TargetReap[] = [];
  for (const reaper of reapers) {
    reports.push(await reaper.reap(context, request, namespaces.filter((opened) => opened.target.reaper === reaper), gone));
  }
  const states: string[] = [];
  for (const opened of namespaces) {
    if (await opened.reapState(request.now, request.dryRun, gone)) states.push(opened.namespace);
  }
  return {
    dryRun: request.dryRun,
    expired: reports.flatMap((report) => report.expired),
    stacks: reports.find((report) => report.stacks)?.stacks ?? { expired: [], failed: [], leftovers: [], leftoversSkipped: [] },
    states,
    unreachable: reports.flatMap((report) => report.unreachable),
  };
}
