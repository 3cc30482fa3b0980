/**
 * The demo scenario played by the real simulator, reached through canaryd's own adapters (the
 * real SDK clients over HTTPS with the simulator's CA). Each test file gets its own simulator.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AzureAdapters, createAzureAdapters } from "../../../src/azure/adapters.ts";
import type { AzureCall } from "../../../src/azure/clients.ts";
import { type AzureAccess, createAzureAccess } from "../../../src/azure/credentials.ts";
import { type RunningSimulator, type Scenario, startSimulator } from "../../../src/simulator/index.ts";
import { defaultConfig } from "../../support/default-config.ts";

export interface DemoFleet {
  sim: RunningSimulator;
  access: AzureAccess;
  azure: AzureAdapters;
  /** Every HTTP attempt the adapters made, as the onAzureCall hook saw it. */
  calls: AzureCall[];
  subscriptionId: string;
  scaleSetId(name: string): string;
  versionId(version: string): string;
  close(): Promise<void>;
}

export interface FleetOptions {
  timeScale?: number;
  vmListPageSize?: number;
  /** Another scenario than the demo (an object or a YAML path); names still resolve in rg-demo. */
  scenario?: Scenario | string;
}

export async function startDemoFleet(options: FleetOptions = {}): Promise<DemoFleet> {
  const dir = await mkdtemp(join(tmpdir(), "canaryd-azure-"));
  const connectionFile = join(dir, "simulator.json");
  const sim = await startSimulator({
    scenario: options.scenario ?? "config/simulator/demo.yaml",
    port: 0,
    timeScale: options.timeScale ?? 60,
    lroRetryAfterSeconds: 0,
    fresh: true,
    // The demo delays metric ingestion by 120 simulated seconds; gate tests read at once.
    metricsIngestionDelaySeconds: 0,
    connectionFile,
    ...(options.vmListPageSize ? { vmListPageSize: options.vmListPageSize } : {}),
  });
  const access = await createAzureAccess({
    ...defaultConfig.azure,
    credential: "connectionFile",
    connectionFile,
    // The simulator's minutes are complete at once (a connection file's own value wins).
    metricsIngestionDelaySeconds: 0,
  });
  const calls: AzureCall[] = [];
  const azure = createAzureAdapters(access, { onAzureCall: (call) => calls.push(call) });
  const subscriptionId = sim.connection.subscriptionId;
  const rg = `/subscriptions/${subscriptionId}/resourceGroups/rg-demo/providers/Microsoft.Compute`;
  return {
    sim,
    access,
    azure,
    calls,
    subscriptionId,
    scaleSetId: (name) => `${rg}/virtualMachineScaleSets/${name}`,
    versionId: (version) => `${rg}/galleries/demoGallery/images/web/versions/${version}`,
    async close() {
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` every `everyMs` until it returns a value, or throws after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
