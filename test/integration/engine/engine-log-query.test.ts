/**
 * The demo's web-1.3.0 spec (config/examples/web-1.3.0.yaml) through the engine, the real
 * executors and the SDK against the simulator: its logQuery gate (syslog-errors) catches 1.3.0 at
 * the canary with the error row in the timeline's evidence, and the same gate passes 1.1.0.
 */
import { readFileSync } from "node:fs";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type RolloutSpec, rolloutSpecSchema } from "../../../src/domain/spec.ts";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import type { Engine } from "../../../src/engine/service/engine.ts";
import { type DemoFleet, startDemoFleet } from "../azure/demo-simulator.ts";
import { alice, removeKeys, testConfig, testEngine, testPrefix } from "./support/harness.ts";

const prefix = testPrefix();
let fleet: DemoFleet;
let engine: Engine | undefined;

beforeEach(async () => {
  fleet = await startDemoFleet({ timeScale: 60 });
});
afterEach(async () => {
  await engine?.stop();
  engine = undefined;
  await fleet?.close();
  await removeKeys(prefix);
});
afterAll(() => removeKeys(prefix));

function demoEngine(): Engine {
  const config = testConfig(prefix);
  config.engine = {
    ...config.engine,
    pollIntervalSeconds: 0.05,
    gateRetrySeconds: 30,
    inconclusiveTimeoutSeconds: 600,
    replicationPollSeconds: 30,
    replicationTimeoutSeconds: 3600,
  };
  const executeEffect = createEffectExecutor({
    azure: fleet.azure,
    config: config.engine,
    allowLatestFor: [],
  });
  engine = testEngine(prefix, executeEffect, {
    config,
    timing: { recoveryIntervalMs: 1_000, retryBackoffMs: 50, waitRecheckMs: 500, timeScale: 60 },
  });
  return engine;
}

/**
 * The demo spec file on web-a with `version`'s image and only its logQuery gate: instanceHealth
 * would stop 1.3.0 at the first look, before the log gate has a bake's worth of logs.
 */
function exampleSpec(version: string): RolloutSpec {
  const input = parse(readFileSync("config/examples/web-1.3.0.yaml", "utf8")) as {
    gates: { kind: string }[];
  };
  return rolloutSpecSchema.parse({
    ...input,
    gates: input.gates.filter((gate) => gate.kind === "logQuery"),
    name: `web-${version}`,
    image: { galleryImageVersionId: fleet.versionId(version) },
    waves: [{ name: "first", scaleSets: [fleet.scaleSetId("web-a")] }],
    strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 60 },
  });
}

interface LoggedResult {
  name: string;
  verdict: string;
  evidence: { rows: { Computer: string; SyslogMessage: string }[]; query: string };
}

async function syslogGateResults(id: string): Promise<LoggedResult[]> {
  const timeline = await engine?.service.timeline(id);
  return (timeline ?? [])
    .filter((entry) => entry.type === "gates.evaluated")
    .flatMap((entry) =>
      ((entry.data?.results ?? []) as LoggedResult[]).filter((r) => r.name === "syslog-errors"),
    );
}

describe("the demo's logQuery gate through the engine", () => {
  // Mutations: the demo spec loses its syslog-errors gate, the simulator's 1.3.0 stops writing
  // error rows, or the gate judges maxRows wrongly → no failed syslog-errors result → fails.
  it("stops 1.3.0 at the canary: syslog-errors failed with the error row as evidence", async () => {
    const { service } = demoEngine();
    await engine?.start();
    const view = await service.start(exampleSpec("1.3.0"), { actor: alice });
    const done = await service.waitForTerminal(view.id, 60_000);
    expect(done.phase).toBe("rolledBack");
    const all = await syslogGateResults(view.id);
    const failed = all.find((result) => result.verdict === "failed");
    expect(failed).toBeDefined();
    expect(failed?.evidence.rows[0]).toMatchObject({
      Computer: expect.stringMatching(/^web-a/),
      SyslogMessage: expect.stringMatching(/upstream connect error/),
    });
    expect(failed?.evidence.query).toContain("Computer in (dynamic([");
  });

  // Mutation: the simulator writes error rows for 1.1.0, or the window reaches before the batch
  // (the routine rows are not errors, so this checks the error filter and the good version).
  it("completes 1.1.0 with the same gate passing", async () => {
    const { service } = demoEngine();
    await engine?.start();
    const view = await service.start(exampleSpec("1.1.0"), { actor: alice });
    const done = await service.waitForTerminal(view.id, 60_000);
    expect(done.phase).toBe("completed");
    const results = await syslogGateResults(view.id);
    expect(results.length).toBeGreaterThan(0);
    expect(results.every((result) => result.verdict === "passed")).toBe(true);
  });
});
