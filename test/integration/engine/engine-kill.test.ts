/**
 * kill -9 of a daemon's engine at exact points (the simulator's hold fault stops the world), then
 * a new process: the rollout ends as an uninterrupted one would, and no batch is upgraded twice.
 * The engines run in child processes; this process only starts rollouts and watches.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAzureAdapters } from "../../../src/azure/adapters.ts";
import { createAzureAccess } from "../../../src/azure/credentials.ts";
import type { RolloutView } from "../../../src/domain/rollout-view.ts";
import { rolloutSpecSchema } from "../../../src/domain/spec.ts";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import { createEngine, type Engine } from "../../../src/engine/service/engine.ts";
import { type RunningSimulator, startSimulator } from "../../../src/simulator/index.ts";
import { defaultConfig } from "../../support/default-config.ts";
import { alice, redisUrl, removeKeys, testLogger, testPrefix, waitForPhase } from "./support/harness.ts";
import { killTestTiming, simulatorEngineConfig } from "./support/kill-timing.ts";

const script = join(import.meta.dirname, "support", "engine-process.ts");
let prefix: string;
let dir: string;
let connectionFile: string;
let sim: RunningSimulator;
let api: Engine;
const daemons: ChildProcess[] = [];

beforeEach(async () => {
  prefix = testPrefix();
  dir = await mkdtemp(join(tmpdir(), "canaryd-engine-kill-"));
  connectionFile = join(dir, "simulator.json");
  sim = await startSimulator({
    scenario: "config/simulator/demo.yaml",
    port: 0,
    timeScale: 60,
    lroRetryAfterSeconds: 0,
    fresh: true,
    connectionFile,
  });
  const config = simulatorEngineConfig(prefix, redisUrl);
  const access = await createAzureAccess({
    ...defaultConfig.azure,
    credential: "connectionFile",
    connectionFile,
  });
  // The API side: starts rollouts and waits; it runs no workers.
  api = createEngine({
    redisUrl,
    config,
    executeEffect: createEffectExecutor({
      azure: createAzureAdapters(access),
      config: config.engine,
      allowLatestFor: [],
    }),
    logger: testLogger,
    timing: killTestTiming,
  });
});

afterEach(async () => {
  for (const daemon of daemons.splice(0))
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill("SIGKILL");
  await api.stop();
  sim.clearFaults();
  await sim.close();
  await rm(dir, { recursive: true, force: true });
  await removeKeys(prefix);
});

async function startDaemon(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script], {
    env: {
      ...process.env,
      CANARYD_TEST_PREFIX: prefix,
      CANARYD_TEST_REDIS_URL: redisUrl,
      CANARYD_TEST_CONNECTION_FILE: connectionFile,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  daemons.push(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) resolve();
    });
    child.once("exit", (code) =>
      reject(new Error(`engine process exited (${code}) before ready: ${stderr}`)),
    );
  });
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

const scaleSetId = (name: string) =>
  `/subscriptions/${sim.connection.subscriptionId}/resourceGroups/rg-demo/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
const versionId = (version: string) =>
  `/subscriptions/${sim.connection.subscriptionId}/resourceGroups/rg-demo/providers/Microsoft.Compute/galleries/demoGallery/images/web/versions/${version}`;
const versionsOf = (name: string) => sim.instanceImages(scaleSetId(name)).map((i) => i.version);

function spec(version: string, bakeSeconds = 0) {
  return rolloutSpecSchema.parse({
    name: `web-${version}`,
    image: { galleryImageVersionId: versionId(version) },
    waves: [
      { name: "first", scaleSets: [scaleSetId("web-a")] },
      { name: "rest", scaleSets: [scaleSetId("web-b")] },
    ],
    strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds },
  });
}

/** Manual upgrades Azure accepted on the scale set: one per batch when nothing was reissued. */
function acceptedUpgrades(name: string): number {
  return sim
    .requestLog({ operation: "virtualMachineScaleSets.updateInstances" })
    .filter((e) => e.status < 300 && e.path.includes(`/virtualMachineScaleSets/${name}/`)).length;
}

function expectEndedLikeAnUninterruptedRun(done: RolloutView, version: string) {
  expect(done.phase).toBe("completed");
  for (const [index, name] of ["web-a", "web-b"].entries()) {
    expect(versionsOf(name)).toEqual(versionsOf(name).map(() => version));
    expect(acceptedUpgrades(name)).toBe(done.scaleSets[index]?.batches.length);
  }
}

// Child processes start slowly on a loaded machine: more room than the default 60 s.
describe("a daemon killed with -9, then restarted", { timeout: 120_000 }, () => {
  it("after a model update, before its canary upgrade was accepted", async () => {
    const first = await startDaemon();
    const hold = sim.addFault({
      kind: "hold",
      operation: "virtualMachineScaleSets.updateInstances",
      count: 1,
    });
    const view = await api.service.start(spec("1.1.0"), { actor: alice });
    await sim.waitForHeld("virtualMachineScaleSets.updateInstances");

    await kill9(first);
    sim.release(hold.id);
    await startDaemon();

    expectEndedLikeAnUninterruptedRun(await api.service.waitForTerminal(view.id, 100_000), "1.1.0");
  });

  it("during an upgrade: accepted, and being observed", async () => {
    const first = await startDaemon();
    const upgrade = sim.addFault({
      kind: "hold",
      operation: "virtualMachineScaleSets.updateInstances",
      count: 1,
    });
    const view = await api.service.start(spec("1.1.0"), { actor: alice });
    await sim.waitForHeld("virtualMachineScaleSets.updateInstances");
    sim.addFault({ kind: "hold", operation: "virtualMachineScaleSetVMs.list", count: 1 });
    sim.release(upgrade.id);
    await sim.waitForHeld("virtualMachineScaleSetVMs.list");

    await kill9(first);
    sim.release();
    await startDaemon();

    expectEndedLikeAnUninterruptedRun(await api.service.waitForTerminal(view.id, 100_000), "1.1.0");
  });

  it("mid-bake", async () => {
    const first = await startDaemon();
    const view = await api.service.start(spec("1.1.0", 120), { actor: alice });
    await waitForPhase(api.service, view.id, ["baking"], 30_000);

    await kill9(first);
    await startDaemon();

    expectEndedLikeAnUninterruptedRun(await api.service.waitForTerminal(view.id, 100_000), "1.1.0");
  });

  it("mid-rollback: 1.2.0 still ends rolled back with everything on 1.0.0", async () => {
    const first = await startDaemon();
    const view = await api.service.start(spec("1.2.0"), { actor: alice });
    await waitForPhase(api.service, view.id, ["canary"], 30_000);
    // The model was written; the next model write is the rollback's revert: stop the world there.
    const timeline = async () => (await api.service.timeline(view.id)).map((e) => e.type);
    await expect.poll(timeline, { timeout: 30_000 }).toContain("model.updated");
    const revert = sim.addFault({ kind: "hold", operation: "virtualMachineScaleSets.update", count: 1 });
    await sim.waitForHeld("virtualMachineScaleSets.update");
    expect((await api.service.get(view.id))?.phase).toBe("rollingBack");

    await kill9(first);
    sim.release(revert.id);
    await startDaemon();
    const done = await api.service.waitForTerminal(view.id, 100_000);

    expect(done.phase).toBe("rolledBack");
    expect(versionsOf("web-a").every((v) => v === "1.0.0")).toBe(true);
    expect(versionsOf("web-b").every((v) => v === "1.0.0")).toBe(true);
    // The canary's upgrade and the rollback's: each accepted once.
    expect(acceptedUpgrades("web-a")).toBe(2);
    expect(acceptedUpgrades("web-b")).toBe(0);
  });
});

describe("two daemons on one Redis", { timeout: 120_000 }, () => {
  it("one is killed mid-rollout; the other finishes it", async () => {
    const [first] = await Promise.all([startDaemon(), startDaemon()]);
    if (!first) throw new Error("no daemon");
    const view = await api.service.start(spec("1.1.0", 120), { actor: alice });
    await waitForPhase(api.service, view.id, ["baking"], 30_000);

    await kill9(first);

    expectEndedLikeAnUninterruptedRun(await api.service.waitForTerminal(view.id, 100_000), "1.1.0");
  });
});
