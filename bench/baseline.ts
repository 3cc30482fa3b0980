/**
 * The baseline: the rollout a competent engineer scripts with `az` today, reproduced call for
 * call through the same SDK against the same simulator. Per scale set: `az vmss show` (record
 * the previous image), `az vmss list-instances` (plan the batches), `az vmss update --set
 * ...imageReference.id=...` (GET + PATCH, waits for the long-running operation). Per batch, per
 * instance: `az vmss update-instances --instance-ids <id> --no-wait`, then `az vmss
 * get-instance-view --instance-id <id>` every poll interval until the instance is back (the last
 * view is the instanceHealth gate), and the serial log (`retrieveBootDiagnosticsData` + blob GET)
 * judged with the same patterns as canaryd's bootDiagnostics gate. Same batches, same parallel
 * scale sets per wave, same poll interval, no bake. Fair to the script: upgrades use --no-wait
 * (one POST, no LRO polling), and the health check reuses the last poll's view.
 *
 * For figure (d) (bench/arm-realistic.ts, realistic durations) three options: `timeScale` (poll
 * intervals are simulated seconds, slept as wall seconds divided by it), `lroPollSeconds` (how
 * often `az vmss update` polls its long-running operation; absent: the SDK's own pacing) and
 * `batchedUpgrades` (one `update-instances --instance-ids <batch> --no-wait` per batch: with real
 * durations, Azure refuses a second manual upgrade on a scale set while one runs, so per-instance
 * calls would serialise the batch behind 409s).
 */
import { Agent, request } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { createSecureContext } from "node:tls";
import { ComputeManagementClient, type VirtualMachineScaleSetVMInstanceView } from "@azure/arm-compute";
import { planBatches } from "../src/domain/plan.ts";
import { bootPatterns, findBootFailure } from "../src/gates/boot-diagnostics/judge.ts";
import {
  type SimulatorConnection,
  StaticTokenCredential,
  simulatorClientOptions,
} from "../src/simulator/index.ts";

export interface BaselineOptions {
  connection: SimulatorConnection;
  resourceGroup: string;
  /** Scale set names per wave. */
  waves: string[][];
  targetImageId: string;
  maxParallelScaleSets: number;
  pollIntervalSeconds: number;
  /** Extra boot-log failure patterns (the spec's failOn). */
  failOn: string[];
  /** Simulated seconds per wall second: poll intervals are divided by it. Default 1. */
  timeScale?: number;
  /** Simulated seconds between polls of the model write's LRO. Absent: the SDK's pacing. */
  lroPollSeconds?: number;
  /** One manual upgrade per batch instead of one per instance. */
  batchedUpgrades?: boolean;
}

export interface BaselineResult {
  outcome: "completed" | "failed";
  reason?: string;
  upgradedInstances: number;
  batches: number;
  wallMs: number;
}

class GateFailed extends Error {}

export async function runBaseline(options: BaselineOptions): Promise<BaselineResult> {
  const { connection, resourceGroup: rg } = options;
  const client = new ComputeManagementClient(
    new StaticTokenCredential(connection.token),
    connection.subscriptionId,
    simulatorClientOptions(connection),
  );
  // The blob host is the simulator: its CA alone, in one keep-alive agent (what curl or az reuse).
  const agent = new Agent({ keepAlive: true, secureContext: createSecureContext({ ca: connection.caCert }) });
  const { patterns } = bootPatterns(options.failOn);
  const timeScale = options.timeScale ?? 1;
  const pollMs = (options.pollIntervalSeconds * 1000) / timeScale;
  const lroOptions =
    options.lroPollSeconds === undefined
      ? {}
      : { updateIntervalInMs: (options.lroPollSeconds * 1000) / timeScale };
  let upgradedInstances = 0;
  let batchCount = 0;

  async function updateModel(name: string, imageId: string): Promise<void> {
    // `az vmss update` is a generic update: it reads the resource, then writes it and waits.
    await client.virtualMachineScaleSets.get(rg, name);
    await client.virtualMachineScaleSets.update(
      rg,
      name,
      { virtualMachineProfile: { storageProfile: { imageReference: { id: imageId } } } },
      lroOptions,
    );
  }

  async function upgradeInstances(name: string, instanceIds: string[]): Promise<void> {
    for (;;) {
      try {
        await client.virtualMachineScaleSets.updateInstances(rg, name, { instanceIds }).submitted();
        return;
      } catch (error) {
        // Another operation on the scale set still runs: the script's retry loop waits a poll.
        if ((error as { statusCode?: number }).statusCode !== 409) throw error;
        await sleep(pollMs);
      }
    }
  }

  async function waitBack(name: string, instanceId: string): Promise<VirtualMachineScaleSetVMInstanceView> {
    for (;;) {
      const view = await client.virtualMachineScaleSetVMs.getInstanceView(rg, name, instanceId);
      const codes = (view.statuses ?? []).map((s) => s.code ?? "");
      if (!codes.some((c) => /^ProvisioningState\/(updating|creating)/i.test(c))) return view;
      await sleep(pollMs);
    }
  }

  function checkHealth(name: string, instanceId: string, view: VirtualMachineScaleSetVMInstanceView): void {
    const codes = (view.statuses ?? []).map((s) => s.code ?? "");
    const health = view.vmHealth?.status?.code ?? "";
    if (!codes.includes("ProvisioningState/succeeded") || !codes.includes("PowerState/running"))
      throw new GateFailed(`${name}/${instanceId}: ${codes.join(", ")}`);
    if (/unhealthy|unknown/i.test(health)) throw new GateFailed(`${name}/${instanceId}: ${health}`);
  }

  async function checkBootLog(name: string, instanceId: string): Promise<void> {
    const data = await client.virtualMachineScaleSetVMs.retrieveBootDiagnosticsData(rg, name, instanceId, {
      sasUriExpirationTimeInMinutes: 10,
    });
    const text = await download(data.serialConsoleLogBlobUri ?? "", agent);
    const failure = findBootFailure(text, patterns);
    if (failure) throw new GateFailed(`${name}/${instanceId}: boot log shows ${failure.pattern}`);
  }

  async function rollScaleSet(name: string): Promise<void> {
    await client.virtualMachineScaleSets.get(rg, name); // az vmss show: the previous image, for the record
    const instances: { instanceId: string; zone?: string }[] = [];
    for await (const vm of client.virtualMachineScaleSetVMs.list(rg, name)) {
      instances.push({ instanceId: vm.instanceId ?? "", ...(vm.zones?.[0] ? { zone: vm.zones[0] } : {}) });
    }
    const plan = planBatches({
      instances: instances.map((i) => ({
        ...i,
        name: i.instanceId,
        protectedFromScaleSetActions: false,
        latestModelApplied: true,
        provisioningState: "Succeeded",
        errorCodes: [],
      })),
      canary: { instances: 1 },
      batchPercent: 50,
      capacity: instances.length,
    });
    await updateModel(name, options.targetImageId);
    for (const batch of plan.batches) {
      batchCount += 1;
      if (options.batchedUpgrades) await upgradeInstances(name, batch);
      else for (const id of batch) await upgradeInstances(name, [id]);
      upgradedInstances += batch.length;
      for (const id of batch) checkHealth(name, id, await waitBack(name, id));
      for (const id of batch) await checkBootLog(name, id);
    }
  }

  const started = performance.now();
  try {
    for (const wave of options.waves) {
      const queue = [...wave];
      const worker = async () => {
        for (let name = queue.shift(); name !== undefined; name = queue.shift()) await rollScaleSet(name);
      };
      await Promise.all(Array.from({ length: Math.min(options.maxParallelScaleSets, wave.length) }, worker));
    }
  } catch (error) {
    if (!(error instanceof GateFailed)) throw error;
    return {
      outcome: "failed",
      reason: error.message,
      upgradedInstances,
      batches: batchCount,
      wallMs: performance.now() - started,
    };
  }
  return {
    outcome: "completed",
    upgradedInstances,
    batches: batchCount,
    wallMs: performance.now() - started,
  };
}

function download(url: string, agent: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        res.statusCode === 200
          ? resolve(Buffer.concat(chunks).toString("utf8"))
          : reject(new Error(`boot log download answered ${res.statusCode}`)),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
