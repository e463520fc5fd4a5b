import { z } from "zod";

/**
 * What a namespace made by `fieldtest up --cloud` keeps locally: that it is a Pulumi stack, and
 * of which project (the cloud is its target's name). The agents and their inventory stay in the
 * stack, read through the Automation API whenever they are needed.
 */
export const pulumiStackRecordSchema = z.object({
  stack: z.string(),
  projectDir: z.string(),
});
export type PulumiStackRecord = z.infer<typeof pulumiStackRecordSchema>;
