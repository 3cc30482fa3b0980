/** Starts a simulator on the demo scenario for one test file, with the real SDK clients pointed at it. */
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ComputeManagementClient } from "@azure/arm-compute";
import { MetricsClient } from "@azure/monitor-query-metrics";
import type { RunningSimulator, SimulatorOptions } from "../../../src/simulator/index.ts";
import {
  StaticTokenCredential,
  simulatorClientOptions,
  startSimulator,
} from "../../../src/simulator/index.ts";

export const DEMO = "config/simulator/demo.yaml";
export const RG = "rg-demo";

export interface Harness {
  sim: RunningSimulator;
  compute: ComputeManagementClient;
  metrics(region: string): MetricsClient;
  dir: string;
  scaleSetId(name: string): string;
  versionId(version: string): string;
  close(): Promise<void>;
}

export async function startHarness(options: Partial<SimulatorOptions> = {}): Promise<Harness> {
  const dir = options.certDir ?? (await mkdtemp(join(tmpdir(), "canaryd-sim-")));
  const sim = await startSimulator({
    scenario: DEMO,
    port: 0,
    timeScale: 100,
    lroRetryAfterSeconds: 0,
    certDir: dir,
    // Azure's ingestion delay is a scenario setting (120 s in the demo); contract tests read at once.
    metricsIngestionDelaySeconds: 0,
    ...options,
  });
  const credential = new StaticTokenCredential(sim.connection.token);
  const clientOptions = simulatorClientOptions(sim.connection);
  const sub = sim.connection.subscriptionId;
  return {
    sim,
    dir,
    compute: new ComputeManagementClient(credential, sub, clientOptions),
    metrics: (region) =>
      new MetricsClient(sim.connection.metricsEndpoint.replace("{region}", region), credential, {
        tlsOptions: clientOptions.tlsOptions,
      }),
    scaleSetId: (name) =>
      `/subscriptions/${sub}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`,
    versionId: (version) =>
      `/subscriptions/${sub}/resourceGroups/${RG}/providers/Microsoft.Compute/galleries/demoGallery/images/web/versions/${version}`,
    async close() {
      await sim.close();
      if (!options.certDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One request to the admin endpoint over HTTPS (the simulator's CA, its token); JSON in and out. */
export function adminRequest(
  sim: RunningSimulator,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const url = `${sim.connection.adminEndpoint}${path}`;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: sim.connection.caCert,
        headers: { authorization: `Bearer ${sim.connection.token}`, "content-type": "application/json" },
      },
      (res) => {
        let text = "";
        res.on("data", (c) => {
          text += c;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }),
        );
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
