/**
 * Redis is the engine's only memory. A persistent Redis (append-only file) restarted or killed in
 * the middle of a rollout must not change how the rollout ends; while it is away, writes answer
 * 503, /readyz says not ready, nothing already accepted is lost, and work resumes when it is back.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { RolloutPhase } from "../../src/domain/rollout-view.ts";
import { type OwnRedis, startOwnRedis } from "../support/reliability-redis.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";
import {
  demoSpec,
  isTerminal,
  pollRollout,
  type Stack,
  startStack,
  versionsOf,
} from "../support/reliability-stack.ts";

const results = new ResultsRecorder("redis");
const actor = { actor: { id: "release-bot", role: "deployer" } };
let redis: OwnRedis | undefined;
let stack: Stack | undefined;

afterEach(async () => {
  await stack?.close();
  stack = undefined;
  await redis?.destroy();
  redis = undefined;
});
afterAll(() => results.write());

const scaleSets = ["web-a", "web-b"];
const midRollout: RolloutPhase[] = ["canary", "baking", "promoting"];

/** Trials per restart scenario: 1 in CI, more in a soak (RELIABILITY_TRIALS=20). */
const trials = Number(process.env.RELIABILITY_TRIALS ?? 1);

/** Starts a rollout, interrupts Redis once it is under way, and reports how it ended. */
async function rolloutAcrossRedisOutage(version: string, signal: "SIGTERM" | "SIGKILL", downMs: number) {
  redis = await startOwnRedis({ appendfsync: "always" });
  stack = await startStack({ redisUrl: redis.url });
  try {
    const { engine, fleet } = stack;
    const started = await engine.service.start(demoSpec(fleet, version, [scaleSets]), actor);
    const before = await pollRollout(engine, started.id, (v) => midRollout.includes(v.phase), 30_000);
    await redis.stop(signal);
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await redis.start();
    const done = await pollRollout(engine, started.id, isTerminal, 90_000);
    const timeline = await engine.service.timeline(started.id);
    return { before, done, timeline, versions: versionsOf(fleet, scaleSets) };
  } finally {
    await stack.close();
    stack = undefined;
    await redis.destroy();
    redis = undefined;
  }
}

describe("Redis restarted mid-rollout", () => {
  it.each([
    ["SIGTERM", "restarted (SIGTERM)"],
    ["SIGKILL", "killed -9 and restarted (appendfsync always)"],
  ] as const)(
    "completes a good rollout when Redis is %s mid-way (%s), every instance on the new version",
    async (signal, what) => {
      await results.trial(`Redis ${what} mid-rollout of 1.1.0 (2 scale sets)`, trials, async () => {
        const interruptedIn: string[] = [];
        for (let trial = 0; trial < trials; trial++) {
          const { before, done, timeline, versions } = await rolloutAcrossRedisOutage("1.1.0", signal, 500);
          expect(done.phase, done.reason).toBe("completed");
          for (const name of scaleSets) expect(versions[name]?.every((v) => v === "1.1.0")).toBe(true);
          // The release record survived whole: sequence numbers run 1..n without a gap or a repeat.
          expect(timeline.map((e) => e.seq)).toEqual(timeline.map((_, i) => i + 1));
          for (const ss of done.scaleSets)
            expect(JSON.stringify(ss.previousImage)).toContain("/versions/1.0.0");
          interruptedIn.push(before.phase);
        }
        return {
          outcome: `completed every time (interrupted in ${[...new Set(interruptedIn)].join(", ")}); every instance on 1.1.0; timeline without gap or repeat; previous version 1.0.0 kept`,
        };
      });
    },
  );

  it("rolls a bad image back across a Redis restart, everything back on the previous version", async () => {
    await results.trial("Redis restart mid-rollout of 1.2.0 (kernel panic)", trials, async () => {
      const interruptedIn: string[] = [];
      for (let trial = 0; trial < trials; trial++) {
        const { before, done, versions } = await rolloutAcrossRedisOutage("1.2.0", "SIGTERM", 500);
        expect(done.phase, done.reason).toBe("rolledBack");
        for (const name of scaleSets) expect(versions[name]?.every((v) => v === "1.0.0")).toBe(true);
        interruptedIn.push(before.phase);
      }
      return {
        outcome: `rolledBack every time (interrupted in ${[...new Set(interruptedIn)].join(", ")}); every instance back on 1.0.0`,
      };
    });
  });
});

describe("Redis down for a while", () => {
  it("answers 503 to writes and to /readyz, loses nothing, and resumes the rollout when Redis is back", async () => {
    await results.trial("Redis down >= 2 s mid-rollout: API writes, readiness, resume", 1, async () => {
      redis = await startOwnRedis({ appendfsync: "always" });
      stack = await startStack({ redisUrl: redis.url });
      const { engine, fleet, api } = stack;
      const first = await api.inject({
        method: "POST",
        url: "/v1/rollouts",
        payload: demoSpec(fleet, "1.1.0", [["web-a"]]),
      });
      expect(first.statusCode).toBe(201);
      const id = first.json<{ id: string }>().id;
      await pollRollout(engine, id, (v) => midRollout.includes(v.phase), 30_000);
      expect((await api.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);

      await redis.stop("SIGTERM");
      const downSince = Date.now();
      const latencies: { call: string; ms: number }[] = [];
      const timed = async (method: "GET" | "POST", url: string, payload?: object) => {
        const t0 = Date.now();
        const response = await api.inject({ method, url, ...(payload ? { payload } : {}) });
        latencies.push({ call: `${method} ${url}`, ms: Date.now() - t0 });
        return response;
      };
      const write = await timed("POST", "/v1/rollouts", demoSpec(fleet, "1.1.0", [["web-b"]]));
      expect(write.statusCode).toBe(503);
      expect(write.json()).toMatchObject({ code: "STORE_UNAVAILABLE" });
      const action = await timed("POST", `/v1/rollouts/${id}/pause`, {});
      expect(action.statusCode).toBe(503);
      const ready = await timed("GET", "/readyz");
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ ready: false });
      const read = await timed("GET", "/v1/rollouts");
      expect(read.statusCode).toBe(503);
      // A caller (a pipeline with a 10 s timeout) must get the 503, not a hang: each answer is quick.
      // Soft: the rest of the scenario (resume, nothing lost) is still checked when this fails.
      for (const { call, ms } of latencies)
        expect.soft(ms, `${call} took ${ms} ms to answer 503`).toBeLessThan(2_000);
      const slowest = Math.max(...latencies.map((l) => l.ms));
      const answeredWithinMs = Date.now() - downSince;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 2_000 - answeredWithinMs)));

      await redis.start();
      const backAt = Date.now();
      await pollRollout(engine, id, () => true, 10_000);
      const deadline = Date.now() + 15_000;
      while ((await api.inject({ method: "GET", url: "/readyz" })).statusCode !== 200) {
        if (Date.now() > deadline) throw new Error("/readyz never said ready again");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const readyAfterMs = Date.now() - backAt;
      const done = await pollRollout(engine, id, isTerminal, 60_000);
      const doneAfterMs = Date.now() - backAt;
      expect(done.phase).toBe("completed");
      expect(versionsOf(fleet, ["web-a"])["web-a"]?.every((v) => v === "1.1.0")).toBe(true);
      // Nothing lost, nothing half-made: exactly the one rollout accepted before the outage.
      const list = await api.inject({ method: "GET", url: "/v1/rollouts" });
      expect(list.json<{ items: { id: string }[] }>().items.map((r) => r.id)).toEqual([id]);
      // Writes work again.
      const after = await api.inject({
        method: "POST",
        url: "/v1/rollouts",
        payload: demoSpec(fleet, "1.1.0", [["web-b"]]),
      });
      expect(after.statusCode).toBe(201);
      return {
        outcome: `${slowest >= 2_000 ? "TOO SLOW: " : ""}writes, reads and /readyz answered 503 (slowest ${slowest} ms); ready again ${readyAfterMs} ms and the rollout completed ${doneAfterMs} ms after Redis returned; new writes 201`,
      };
    });
  });
});
