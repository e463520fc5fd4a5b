import type { Inventory } from "../core/inventory.ts";
import type { Namespace } from "../core/namespace.ts";

/**
 * Where a namespace's agents live, and what can be done to them. Each namespace has exactly one
 * backend, chosen from its record in the state directory (see open.ts); every command goes
 * through it, so no two commands can disagree about what a namespace is.
 */
export type BackendKind = "localhost" | "ssh" | "pulumi";

/** One agent as `list --namespace` shows it. */
export interface AgentRow {
  name: string;
  address: string;
  portRange: string;
  state: string;
  expiresAt: string | null;
  containerId?: string;
}

/** One namespace as `list` shows it. */
export interface NamespaceSummary {
  namespace: string;
  target: "localhost" | "ssh" | "gcp" | "aws";
  /** null where counting them would need the Pulumi CLI or an unreachable host. */
  agents: number | null;
  running: number | null;
  owner: string;
  expiresAt: string | null;
  note?: string;
}

export interface Removal {
  /** What was (or, dry, would be) removed: agents by name, containers serving runs by role. */
  names: string[];
  /** True when something other than agents was among them (Grafana). */
  notOnlyAgents: boolean;
  /** The Pulumi stack destroyed with it. */
  stack?: { name: string; cloud: string };
}

export interface Extension {
  expiresAt: Date;
  /** The agents (or resources) that now expire then. */
  names: string[];
}

/** `extend --ttl 4h`: the new expiry, and the TTL as written, counted from `now`. */
export interface ExtendRequest {
  expiresAt: Date;
  ttl: string;
  ttlSeconds: number;
  now: Date;
  /** The user's word that the extension may replace VMs (a Pulumi stack's, whose boot scripts carry the expiry). */
  replaceVms?: boolean;
}

export interface FleetBackend {
  readonly kind: BackendKind;
  readonly namespace: Namespace;
  /** The live agents, or undefined when there are none. */
  inventory(): Promise<Inventory | undefined>;
  agents(): Promise<AgentRow[]>;
  /** The summary `list` shows; localhost namespaces are summarized from the engine as a whole. */
  summary(): Promise<NamespaceSummary>;
  /** Removes everything of the namespace, then its state directory (nothing, dry). */
  destroy(dryRun: boolean): Promise<Removal>;
  /** Moves the expiry of everything of the namespace to `request.expiresAt`. */
  extend(request: ExtendRequest): Promise<Extension>;
}
