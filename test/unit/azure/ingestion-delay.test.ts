/** Where the metrics ingestion delay comes from: default, environment, a connection file's own value. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../../src/api/metrics.ts";
import { createAzureAdapters } from "../../../src/azure/adapters.ts";
import { createAzureAccess } from "../../../src/azure/credentials.ts";
import { loadConfig } from "../../../src/config/load-config.ts";

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function connectionFile(extra: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "canaryd-delay-"));
  dirs.push(dir);
  const path = join(dir, "simulator.json");
  await writeFile(
    path,
    JSON.stringify({
      resourceManagerEndpoint: "https://127.0.0.1:1",
      metricsEndpoint: "https://127.0.0.1:1/{region}",
      token: "t",
      ...extra,
    }),
  );
  return path;
}

describe("metrics ingestion delay", () => {
  it("defaults to 180 s and follows CANARYD_AZURE_METRICS_INGESTION_DELAY_SECONDS", () => {
    expect(loadConfig({ env: {} }).azure.metricsIngestionDelaySeconds).toBe(180);
    const config = loadConfig({ env: { CANARYD_AZURE_METRICS_INGESTION_DELAY_SECONDS: "45" } });
    expect(config.azure.metricsIngestionDelaySeconds).toBe(45);
  });

  it("reaches the metrics adapter; a connection file's own value wins over the configuration", async () => {
    const config = loadConfig({ env: { CANARYD_AZURE_METRICS_INGESTION_DELAY_SECONDS: "45" } }).azure;
    const plain = await connectionFile({});
    const own = await connectionFile({ metricsIngestionDelaySeconds: 7 });
    const fromConfig = await createAzureAccess({
      ...config,
      credential: "connectionFile",
      connectionFile: plain,
    });
    const fromFile = await createAzureAccess({
      ...config,
      credential: "connectionFile",
      connectionFile: own,
    });
    expect(createAzureAdapters(fromConfig).metrics.ingestionDelaySeconds).toBe(45);
    expect(createAzureAdapters(fromFile).metrics.ingestionDelaySeconds).toBe(7);
  });

  it("/metrics counts metrics calls per evaluation", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.metricsCallsPerEvaluation(1);
    metrics.metricsCallsPerEvaluation(1);
    const text = await metrics.registry.metrics();
    expect(text).toContain("canaryd_gate_metrics_calls_per_evaluation_count 2");
    expect(text).toContain("canaryd_gate_metrics_calls_per_evaluation_sum 2");
  });
});
