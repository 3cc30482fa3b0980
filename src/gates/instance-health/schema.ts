/** The instanceHealth gate's spec (judged with the spec's strategy.maxUnhealthyPercent). */
import { z } from "zod";
import { gateNameField, onInconclusive } from "../schema-fields.ts";

export const instanceHealthGateSchema = z.strictObject({
  name: gateNameField,
  kind: z.literal("instanceHealth"),
  onInconclusive,
});

export type InstanceHealthGateSpec = z.output<typeof instanceHealthGateSchema>;
