/**
 * Continuous canary analysis end to end (issue 11, "Done when"): the API over the real engine, the
 * real Azure SDK clients and the simulator's demo fleet with its per-VM metric series and its
 * metrics ingestion delay (the newest two minutes unreadable, as in Azure), at time scale 60 (a
 * 5-minute bake lasts 5 s). The specs are the walkthrough's own example files
 * (config/examples/web-1.6.0.yaml, web-1.7.0.yaml, web-1.7.0-compare.yaml), so the README shows
 * what these tests prove. The witness is the rollout's timeline: each analysis evaluation with
 * its gate results and evidence.
 */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { closeStacks, phaseIs, post, type Stack, scaleSet, stack, version } from "../../support/api-stack.ts";

afterEach(closeStacks);

interface Entry {
  type: string;
  message: string;
  at: string;
  data?: Record<string, unknown>;
}
interface Result {
  gate: string;
  name: string;
  verdict: string;
  summary: string;
  evidence: Record<string, unknown>;
}

const example = (file: string) => parse(readFileSync(`config/examples/${file}`, "utf8"));
/** Azure Monitor's lag as the demo fleet plays it: the newest minutes are not readable yet. */
const metricsIngestionDelaySeconds: number = parse(readFileSync("config/simulator/demo.yaml", "utf8")).metrics
  .ingestionDelaySeconds;
const demoStack = (seed?: number) =>
  stack({ timeScale: 60, metricsIngestionDelaySeconds, ...(seed === undefined ? {} : { seed }) });
const results = (entry: Entry) => (entry.data?.results ?? []) as Result[];
const isEvaluation = (verdict: string) => (entry: Entry) =>
  entry.type === "gates.evaluated" && entry.data?.verdict === verdict;

async function run(s: Stack, spec: unknown) {
  const start = await post(s, "/v1/rollouts", spec);
  expect(start.statusCode).toBe(201);
  const done = await phaseIs(s, start.json().id, ["completed", "rolledBack", "failed"], 25_000);
  return { done, timeline: done.timeline as Entry[] };
}

const versions = (s: Stack) => s.sim.instanceImages(scaleSet("web-a")).map((i) => i.version);

describe("continuous analysis through the bake", () => {
  it("1.6.0 (fine for 2 minutes, then CPU ~95 %) with a max-80 metric gate and a 5-minute bake: passes, then fails, rolled back during the bake", async () => {
    const s = await demoStack();
    const spec = example("web-1.6.0.yaml");
    expect(spec.strategy.bakeSeconds).toBe(300);
    const { done, timeline } = await run(s, spec);

    expect(done.phase).toBe("rolledBack");
    const index = (predicate: (e: Entry) => boolean) => timeline.findIndex(predicate);
    const failing = index(isEvaluation("failed"));
    const rollback = index((e) => e.type === "rollback.started");
    expect(failing).toBeGreaterThan(0);
    expect(rollback).toBeGreaterThan(failing);
    // During the bake: its timer never fired, and no other batch was started.
    expect(timeline.slice(0, rollback).some((e) => e.type === "bake.completed")).toBe(false);
    expect(timeline.slice(0, rollback).filter((e) => e.type === "batch.upgrading")).toHaveLength(1);
    expect(done.reason).toMatch(/gate failed: metric/);
    // The passing evaluations come first (the first of a run of passes is a line, the rest are
    // counted in one gates.passedRepeatedly line), then the failing one.
    const before = timeline.slice(0, failing);
    const passes = before.filter(isEvaluation("passed"));
    expect(passes.length).toBeGreaterThan(0);
    for (const pass of passes) expect(results(pass).find((r) => r.name === "metric")?.verdict).toBe("passed");
    const failed = results(timeline[failing] as Entry).find((r) => r.name === "metric");
    expect(failed?.verdict).toBe("failed");
    const values = (failed?.evidence.values ?? []) as { value: number }[];
    expect(values[0]?.value).toBeGreaterThan(80);
    // Rolled back: every instance is on the previous image again.
    expect(versions(s)).toEqual(versions(s).map(() => "1.0.0"));
  });
});

describe("a threshold against a comparison with the instances beside the canary", () => {
  it("1.7.0 (~40 % CPU where the fleet runs ~25 %) passes a max-80 metric gate: completes", async () => {
    const s = await demoStack();
    const { done, timeline } = await run(s, example("web-1.7.0.yaml"));

    expect(done.phase).toBe("completed");
    expect(versions(s)).toEqual(versions(s).map(() => "1.7.0"));
    // The gate did measure it, well above the fleet's level and well under the ceiling.
    const measured = timeline
      .filter(isEvaluation("passed"))
      .flatMap(results)
      .filter((r) => r.name === "metric")
      .flatMap((r) => r.evidence.values as { value: number }[]);
    expect(measured.length).toBeGreaterThan(0);
    for (const { value } of measured) {
      expect(value).toBeGreaterThan(32);
      expect(value).toBeLessThan(80);
    }
  });

  it("1.7.0 with a compare gate: rolled back, the evidence naming the shift and its interval", async () => {
    const s = await demoStack();
    const { done, timeline } = await run(s, example("web-1.7.0-compare.yaml"));

    expect(done.phase).toBe("rolledBack");
    expect(versions(s)).toEqual(versions(s).map(() => "1.0.0"));
    const failing = timeline.find(isEvaluation("failed"));
    const compare = results(failing as Entry).find((r) => r.name === "cpu-vs-baseline");
    expect(compare?.verdict).toBe("failed");
    const test = compare?.evidence.test as {
      effectPercent: number;
      estimate: number;
      interval: { lower: number; upper: number; confidence: number };
    };
    // +60 % configured; the canary's own level offset (sd 4 %) moves it a little.
    expect(test.effectPercent).toBeGreaterThan(40);
    expect(test.effectPercent).toBeLessThan(85);
    expect(test.interval.confidence).toBe(0.98);
    expect(test.interval.lower).toBeGreaterThan(0);
    expect(test.interval.lower).toBeLessThanOrEqual(test.estimate);
    expect(test.interval.upper).toBeGreaterThanOrEqual(test.estimate);
    expect(compare?.evidence.baselineKind).toBe("instances");
    // Measured from the canary's own level against the same neighbours before its upgrade.
    expect(compare?.evidence.levelCorrection).toEqual([
      expect.objectContaining({ offset: expect.any(Number), points: expect.any(Number) }),
    ]);
    expect(compare?.summary).toMatch(/shift \+[\d.]+ \(\+[\d.]+ %\), 98 % interval \[[\d.]+, [\d.]+\]/);
    expect(timeline.indexOf(failing as Entry)).toBeLessThan(
      timeline.findIndex((e) => e.type === "rollback.started"),
    );
  });
});

describe("no false alarm", () => {
  it.each([1, 2, 3])("1.1.0 (a good version) with a compare gate completes (noise seed %i)", async (seed) => {
    const s = await demoStack(seed);
    const spec = example("web-1.7.0-compare.yaml");
    spec.image.galleryImageVersionId = version("1.1.0");
    const { done, timeline } = await run(s, spec);

    expect(done.phase).toBe("completed");
    expect(versions(s)).toEqual(versions(s).map(() => "1.1.0"));
    // The compare gate judged (a test with an interval), not only waited for data.
    const judged = timeline
      .filter(isEvaluation("passed"))
      .flatMap(results)
      .filter((r) => r.name === "cpu-vs-baseline" && r.evidence.test !== undefined);
    expect(judged.length).toBeGreaterThan(0);
  });
});
