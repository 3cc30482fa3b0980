/**
 * Counting Azure requests from the simulator's request log: ARM (management.azure.com) calls by
 * operation, with boot-log blob downloads (Storage, not ARM) and Azure Monitor queries apart,
 * since only ARM calls count against the Compute throttling limits.
 */
import type { RequestLogEntry } from "../src/simulator/index.ts";
import { median, percentile } from "./stats.ts";

export interface AzureRequestCounts {
  arm: number;
  /** Boot diagnostics blob downloads (Storage SAS URLs): no ARM quota. */
  blobDownloads: number;
  /** Azure Monitor metrics queries (own limits). */
  monitor: number;
  throttled: number;
  byOperation: Record<string, number>;
  /** How long the simulator took to answer (its own handling, not the network), in ms. */
  serviceMs: { median: number; p99: number };
}

export function countRequests(entries: readonly RequestLogEntry[]): AzureRequestCounts {
  const durations = entries.map((entry) => entry.durationMs);
  const counts: AzureRequestCounts = {
    arm: 0,
    blobDownloads: 0,
    monitor: 0,
    throttled: 0,
    byOperation: {},
    serviceMs: { median: median(durations), p99: percentile(durations, 99) },
  };
  for (const entry of entries) {
    if (entry.operation.startsWith("admin")) continue;
    counts.byOperation[entry.operation] = (counts.byOperation[entry.operation] ?? 0) + 1;
    if (entry.status === 429) counts.throttled += 1;
    if (entry.operation === "bootDiagnostics.download") counts.blobDownloads += 1;
    else if (entry.operation.startsWith("metrics")) counts.monitor += 1;
    else counts.arm += 1;
  }
  return counts;
}

/** ARM calls per upgraded instance, overall and per operation. */
export function perInstance(counts: AzureRequestCounts, instances: number): Record<string, number> {
  const rows: Record<string, number> = { total: counts.arm / instances };
  for (const [operation, n] of Object.entries(counts.byOperation)) rows[operation] = n / instances;
  return rows;
}
