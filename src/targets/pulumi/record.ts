import { z } from "zod";

/**
 * What a namespace made by `fieldtest up --cloud` keeps locally: that it is a Pulumi stack, and
 * of which project. The agents and their inventory stay in the stack, read through the
 * Automation API whenever they are needed.
 */
export const pulumiStackRecordSchema = z.object({
  target: z.literal("pulumi"),
  cloud: z.enum(["gcp", "aws"]),
  stack: z.string(),
  projectDir: z.string(),
});
export type PulumiStackRecord = z.infer<typeof pulumiStackRecordSchema>;
