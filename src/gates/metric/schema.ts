/** The metric gate's spec: an Azure Monitor metric of the batch against min and/or max. */
import { z } from "zod";
import { gateNameField, metricAggregation, metricNamespace, onInconclusive } from "../schema-fields.ts";

export const metricGateSchema = z
  .strictObject({
    name: gateNameField,
    kind: z.literal("metric"),
    metric: z.string().min(1),
    namespace: metricNamespace,
    aggregation: metricAggregation,
    windowSeconds: z.number().int().min(60).max(86_400).default(300),
    min: z.number().optional(),
    max: z.number().optional(),
    onInconclusive,
  })
  .refine((g) => g.min !== undefined || g.max !== undefined, {
    message: "a metric gate needs min, max or both",
    path: ["max"],
  });

export type MetricGateSpec = z.output<typeof metricGateSchema>;
