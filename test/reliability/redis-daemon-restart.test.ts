/**
 * The daemon as composed in production (src/daemon/daemon.ts, default engine timings, the
 * simulator in-process) on a persistent Redis that is restarted mid-rollout: it reconnects by
 * itself and the rollout ends as an uninterrupted one does. Measures how long recovery takes.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load-config.ts";
import { type Daemon, startDaemon } from "../../src/daemon/daemon.ts";
import type { RolloutView } from "../../src/domain/rollout-view.ts";
import { terminalPhases } from "../../src/domain/rollout-view.ts";
import { testPrefix } from "../integration/engine/support/harness.ts";
import { type OwnRedis, startOwnRedis } from "../support/reliability-redis.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";

const results = new ResultsRecorder("redis-daemon");
afterAll(() => results.write());

const sub =
  "/subscriptions/5f2b8c1e-3a4d-4e6f-9b0a-1c2d3e4f5a6b/resourceGroups/rg-demo/providers/Microsoft.Compute";
const spec = {
  name: "web-1.1.0",
  image: { galleryImageVersionId: `${sub}/galleries/demoGallery/images/web/versions/1.1.0` },
  waves: [
    { name: "first", scaleSets: [`${sub}/virtualMachineScaleSets/web-a`] },
    { name: "rest", scaleSets: [`${sub}/virtualMachineScaleSets/web-b`] },
  ],
  strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 60, maxParallelScaleSets: 2 },
  gates: [{ kind: "instanceHealth" }, { kind: "bootDiagnostics" }],
};

async function poll(
  daemon: Daemon,
  id: string,
  done: (v: RolloutView) => boolean,
  timeoutMs: number,
): Promise<RolloutView> {
  const deadline = Date.now() + timeoutMs;
  let last: RolloutView | undefined;
  for (;;) {
    const response = await fetch(`${daemon.url}/v1/rollouts/${id}`).catch(() => undefined);
    if (response?.ok) last = (await response.json()) as RolloutView;
    if (last && done(last)) return last;
    if (Date.now() > deadline) throw new Error(`rollout ${id} still ${last?.phase} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("the daemon on a persistent Redis restarted mid-rollout", () => {
  it("reconnects by itself and completes the rollout, every instance on the new version", async () => {
    await results.trial("daemon (default timings): Redis restart mid-rollout of 1.1.0", 1, async () => {
      let redis: OwnRedis | undefined;
      let daemon: Daemon | undefined;
      const dir = await mkdtemp(join(tmpdir(), "canaryd-daemon-redis-"));
      try {
        redis = await startOwnRedis({ appendfsync: "always" });
        const base = loadConfig({ file: "config/demo.yaml", env: {} });
        const config = {
          ...base,
          redis: { ...base.redis, url: redis.url, keyPrefix: testPrefix() },
          server: { ...base.server, port: 0 },
        };
        daemon = await startDaemon({
          config,
          logger: pino({ level: "silent" }),
          simulateScenario: "config/simulator/demo.yaml",
          timeScale: 60,
          varDir: dir,
        });
        const started = await fetch(`${daemon.url}/v1/rollouts`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(spec),
        });
        expect(started.status).toBe(201);
        const { id } = (await started.json()) as { id: string };
        const before = await poll(
          daemon,
          id,
          (v) => ["canary", "baking", "promoting"].includes(v.phase),
          30_000,
        );
        await redis.stop("SIGTERM");
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        await redis.start();
        const backAt = Date.now();
        const done = await poll(daemon, id, (v) => terminalPhases.has(v.phase), 120_000);
        const seconds = ((Date.now() - backAt) / 1000).toFixed(1);
        expect(done.phase, done.reason).toBe("completed");
        const sim = daemon.simulator;
        for (const name of ["web-a", "web-b"])
          expect(
            sim?.instanceImages(`${sub}/virtualMachineScaleSets/${name}`).every((i) => i.version === "1.1.0"),
          ).toBe(true);
        return {
          outcome: `completed ${seconds} s after Redis returned (interrupted in ${before.phase}); every instance on 1.1.0`,
        };
      } finally {
        await daemon?.close();
        await redis?.destroy();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
