/**
 * The compare gate's spec: the canary's instances against a baseline (instances of the same scale
 * set still on the previous image, or the canary's own samples before its upgrade): see
 * ./judge.ts and docs/analysis.md for the test and what the fields mean.
 */
import { z } from "zod";
import { gateNameField, metricAggregation, metricNamespace, onInconclusive } from "../schema-fields.ts";

export const compareGateSchema = z.strictObject({
  name: gateNameField,
  kind: z.literal("compare"),
  metric: z.string().min(1),
  namespace: metricNamespace,
  aggregation: metricAggregation,
  /** Which change fails: a rise, a drop, or both. */
  direction: z.enum(["increase", "decrease", "either"]).default("increase"),
  /** Allowed change of the canary against the baseline, in percent of the baseline's median. */
  tolerancePercent: z.number().min(0).max(1000).default(20),
  /** Confidence of the Mann-Whitney interval on the shift. */
  confidence: z.number().gt(0.5).lt(1).default(0.98),
  onInconclusive,
});

export type CompareGateSpec = z.output<typeof compareGateSchema>;
