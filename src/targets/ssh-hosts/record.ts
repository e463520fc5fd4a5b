import { z } from "zod";

/** What a namespace on SSH hosts keeps locally: where its agents are, never the agents themselves. */
export const sshFleetRecordSchema = z.object({
  hosts: z.array(z.object({ user: z.string(), host: z.string(), port: z.number().int(), hostKey: z.string() })).min(1),
  operatorKeyPath: z.string(),
});
export type SshFleetRecord = z.infer<typeof sshFleetRecordSchema>;
