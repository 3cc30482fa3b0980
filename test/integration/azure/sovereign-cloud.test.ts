/**
 * A sovereign cloud is configuration only: azure.metricsAudience (CANARYD_AZURE_METRICS_AUDIENCE)
 * is the audience of the metrics token, and azure.authorityHost (CANARYD_AZURE_AUTHORITY_HOST) is
 * where DefaultAzureCredential signs in. Both go through the real SDKs to the simulator, started
 * with Azure US Government's metrics audience: the simulator refuses a metrics token bound to
 * another audience, as Azure does, and sees the sign-in requests when it is the authority.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAzureAdapters } from "../../../src/azure/adapters.ts";
import { createAzureAccess } from "../../../src/azure/credentials.ts";
import { loadConfig } from "../../../src/config/load-config.ts";
import { type RunningSimulator, startSimulator } from "../../../src/simulator/index.ts";

const usGovMetrics = "https://metrics.monitor.azure.us";
let dir: string;
let sim: RunningSimulator;
let connectionFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "canaryd-sovereign-"));
  connectionFile = join(dir, "simulator.json");
  sim = await startSimulator({
    scenario: "config/simulator/demo.yaml",
    port: 0,
    timeScale: 60,
    lroRetryAfterSeconds: 0,
    fresh: true,
    connectionFile,
    metricsAudience: usGovMetrics,
  });
});
afterAll(async () => {
  await sim?.close();
  await rm(dir, { recursive: true, force: true });
});

/** One batch metrics query for web-c through the adapters built from this environment. */
async function queryMetrics(env: Record<string, string>) {
  const config = loadConfig({
    env: {
      CANARYD_AZURE_CREDENTIAL: "connectionFile",
      CANARYD_AZURE_CONNECTION_FILE: connectionFile,
      ...env,
    },
  });
  const azure = createAzureAdapters(await createAzureAccess(config.azure));
  const rg = `/subscriptions/${sim.connection.subscriptionId}/resourceGroups/rg-demo/providers/Microsoft.Compute`;
  const end = new Date();
  return azure.metrics.queryScaleSetMetric({
    region: "northeurope",
    scaleSetIds: [`${rg}/virtualMachineScaleSets/web-c`],
    metric: "Percentage CPU",
    namespace: "Microsoft.Compute/virtualMachineScaleSets",
    aggregation: "Average",
    start: new Date(end.getTime() - 10 * 60_000),
    end,
    interval: "PT1M",
    top: 4,
  });
}

describe("a sovereign cloud's settings", () => {
  it("asks for the metrics token with CANARYD_AZURE_METRICS_AUDIENCE, and Azure Monitor accepts it", async () => {
    sim.clearRequestLog();
    const result = await queryMetrics({ CANARYD_AZURE_METRICS_AUDIENCE: usGovMetrics });
    expect(result.series.map((s) => s.vmName).sort()).toEqual(["web-c_0", "web-c_1", "web-c_2", "web-c_3"]);
    expect(sim.requestLog({ operation: "metrics.queryResources" }).map((r) => r.status)).toEqual([200]);
  });

  it("is refused with 401 when the metrics token is for public Azure's audience (the default)", async () => {
    sim.clearRequestLog();
    await expect(queryMetrics({})).rejects.toThrow();
    const statuses = sim.requestLog({ operation: "metrics.queryResources" }).map((r) => r.status);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((status) => status === 401)).toBe(true);
  });
});
