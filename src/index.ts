// The package's public surface: what scenario files and embedding programs import.
export { defineScenario, type Scenario, type ScenarioDefinition } from "./scenario.ts";
export type { Cloud } from "./runtime/cloud.ts";
export type { Agent } from "./runtime/agent.ts";
export type { Daemon, DaemonExit, DaemonOutput, LogLine, RestartPolicy, SpawnOptions, StopOptions } from "./runtime/daemon.ts";
export type { OpInput, PendingOp, ScenarioHistory } from "./history/scenario-history.ts";
export type { CheckerName } from "./checkers/names.ts";
export { ExecError, ExecTimeoutError, type ExecOptions, type ExecResult } from "./runtime/exec.ts";
export type { CopyResult } from "./runtime/copy.ts";
export { BroadcastError, type BroadcastResult } from "./runtime/broadcast.ts";
export { inventorySchema, parseInventory, type Inventory, type AgentSpec } from "./core/inventory.ts";
export { LABELS, parseTtl } from "./core/namespace.ts";
export { HostKeyMismatchError } from "./runtime/ssh-connection.ts";
