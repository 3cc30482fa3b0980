/**
 * Contract: per-VM metric series through the real @azure/monitor-query-metrics client: VMName
 * metadata, the version each instance ran in each minute (its version history), behaviours that
 * change with the time since an instance took a version (the demo's 1.6.0 delayed onset, 1.7.0's
 * +60 %), seeded noise, and Azure's ingestion delay. Time is moved by the test (an injected clock at
 * time scale 1), so minutes are exact.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dimensionValue } from "../../../src/azure/metrics.ts";
import type { Scenario } from "../../../src/simulator/index.ts";
import { loadScenarioFile } from "../../../src/simulator/index.ts";
import { DEMO, type Harness, RG, startHarness } from "./support.ts";

const NAMESPACE = "Microsoft.Compute/virtualMachineScaleSets";
const CPU = "Percentage CPU";
const MINUTE = 60_000;
const FAST = { updateIntervalInMs: 10 };

/** The demo, with instant upgrades so the test clock alone decides when things happen. */
async function instantDemo(change: (s: Scenario) => void = () => {}): Promise<Scenario> {
  const scenario = await loadScenarioFile(DEMO);
  scenario.timing = { modelUpdateSeconds: 0, instanceUpgradeSeconds: 0 };
  change(scenario);
  return scenario;
}

/**
 * A clock that stands still until the test moves it forward. It starts at a fixed instant, so
 * every run draws the same noise (the draws hash the minute) and a failure replays.
 */
function testClock() {
  let now = Date.parse("2026-12-01T10:00:17.000Z");
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

/**
 * The noise is heavy-tailed: now and then a minute spikes far from the level (-25 % and more).
 * A level is judged on the median and on most minutes, as a canary analysis would.
 */
function mostly(points: { average?: number }[], test: (value: number) => boolean) {
  const values = points.map((p) => p.average).filter((x): x is number => typeof x === "number");
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  expect(test(median)).toBe(true);
  expect(values.filter(test).length).toBeGreaterThanOrEqual(Math.ceil(values.length * 0.8));
}

async function upgrade(h: Harness, scaleSet: string, instanceId: string, version: string) {
  await h.compute.virtualMachineScaleSets.update(
    RG,
    scaleSet,
    { virtualMachineProfile: { storageProfile: { imageReference: { id: h.versionId(version) } } } },
    FAST,
  );
  await h.compute.virtualMachineScaleSets.updateInstances(RG, scaleSet, { instanceIds: [instanceId] }, FAST);
}

type Aggregation = "Average" | "Maximum" | "Minimum" | "Total" | "Count";

/** Per-VM series of one scale set: VM name -> minute points, the query shape canaryd sends. */
async function perVm(
  h: Harness,
  region: string,
  scaleSet: string,
  window: { startTime: Date; endTime: Date },
  options: { aggregation?: Aggregation[]; interval?: string } = {},
) {
  const [result] = await h.metrics(region).queryResources([h.scaleSetId(scaleSet)], [CPU], NAMESPACE, {
    ...window,
    filter: "VMName eq '*'",
    top: 50,
    interval: options.interval ?? "PT1M",
    aggregation: (options.aggregation ?? ["Average"]).join(","),
  });
  const series = result?.getMetricByName(CPU)?.timeseries ?? [];
  return new Map(
    series.map((s) => [
      dimensionValue((s.metadatavalues ?? []) as { name?: unknown; value?: string }[], "vmname") ?? "",
      (s.data ?? []).map((d) => ({ ...d, at: new Date(d.timeStamp).getTime() })),
    ]),
  );
}

const floorMinute = (ms: number) => Math.floor(ms / MINUTE) * MINUTE;

describe("per-VM series and version history", () => {
  const clock = testClock();
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ scenario: await instantDemo(), timeScale: 1, now: clock.now });
    clock.advance(10_000); // past the demo's 4 s of replication
  });
  afterAll(async () => h.close());

  it("answers one series per VM with VMName metadata, PT1M grain and every aggregation asked for", async () => {
    const end = Math.floor(clock.now() / (5 * MINUTE)) * 5 * MINUTE;
    const series = await perVm(
      h,
      "westeurope",
      "web-a",
      { startTime: new Date(end - 10 * MINUTE), endTime: new Date(end) },
      { aggregation: ["Average", "Maximum", "Minimum", "Total", "Count"] },
    );
    expect([...series.keys()]).toEqual(["web-a_0", "web-a_2", "web-a_3", "web-a_7", "web-a_9"]);
    for (const points of series.values()) {
      expect(points.map((p) => p.at)).toEqual(Array.from({ length: 10 }, (_, i) => end - (10 - i) * MINUTE));
      for (const p of points) {
        // One sample per VM and minute: every aggregation of it is that sample.
        expect(p).toMatchObject({ maximum: p.average, minimum: p.average, total: p.average, count: 1 });
      }
    }
    const fiveMinutes = await perVm(
      h,
      "westeurope",
      "web-a",
      { startTime: new Date(end - 10 * MINUTE), endTime: new Date(end) },
      { aggregation: ["Count", "Average"], interval: "PT5M" },
    );
    const minutes = series.get("web-a_0") ?? [];
    const first = fiveMinutes.get("web-a_0")?.[0];
    expect(first?.count).toBe(5);
    const mean = minutes.slice(0, 5).reduce((sum, p) => sum + (p.average ?? 0), 0) / 5;
    expect(first?.average).toBeCloseTo(mean, 1);
  });

  it("shows the old version's level before an upgrade and the new one's after", async () => {
    clock.advance(5 * MINUTE);
    const upgradedAt = clock.now();
    await upgrade(h, "web-a", "0", "1.4.0");
    clock.advance(10 * MINUTE);
    const series = await perVm(h, "westeurope", "web-a", {
      startTime: new Date(upgradedAt - 10 * MINUTE),
      endTime: new Date(upgradedAt + 10 * MINUTE),
    });
    const points = series.get("web-a_0") ?? [];
    const before = points.filter((p) => p.at + MINUTE <= upgradedAt);
    const after = points.filter((p) => p.at >= upgradedAt);
    expect(before.length).toBeGreaterThanOrEqual(9);
    expect(after.length).toBeGreaterThanOrEqual(9);
    mostly(before, (x) => x < 40); // 1.0.0: ~27
    mostly(after, (x) => x > 80); // 1.4.0: ~95
    const history = h.sim.versionHistory(h.scaleSetId("web-a"), "0") ?? [];
    expect(history.map((e) => e.version)).toEqual(["1.0.0", null, "1.4.0"]);
  });

  it("1.6.0 looks like the fleet for two minutes after the upgrade, then runs at ~95 %", async () => {
    const upgradedAt = clock.now();
    await upgrade(h, "web-b", "1", "1.6.0");
    clock.advance(10 * MINUTE);
    const series = await perVm(h, "westeurope", "web-b", {
      startTime: new Date(upgradedAt),
      endTime: new Date(upgradedAt + 10 * MINUTE),
    });
    const points = series.get("web-b_1") ?? [];
    // Minutes whose middle is less than 120 s after the upgrade: the fleet's ~25 %.
    const early = points.filter((p) => p.at >= upgradedAt && p.at + MINUTE / 2 - upgradedAt < 120_000);
    const late = points.filter((p) => p.at >= upgradedAt + 120_000);
    expect(early.length).toBeGreaterThanOrEqual(1);
    expect(late.length).toBeGreaterThanOrEqual(7);
    mostly(early, (x) => x < 40);
    mostly(late, (x) => x > 80);
    // The instances still on 1.0.0 stay at the fleet's level all along.
    mostly(series.get("web-b_0") ?? [], (x) => x < 40);
  });

  it("1.7.0 runs 60 % above the fleet: ~40 % where the others run at ~27 %", async () => {
    const upgradedAt = clock.now();
    await upgrade(h, "web-b", "2", "1.7.0");
    clock.advance(30 * MINUTE);
    const series = await perVm(h, "westeurope", "web-b", {
      startTime: new Date(floorMinute(upgradedAt) + MINUTE),
      endTime: new Date(upgradedAt + 30 * MINUTE),
    });
    const mean = (name: string) => {
      const xs = (series.get(name) ?? []).map((p) => p.average).filter((x) => typeof x === "number");
      return xs.reduce((sum, x) => sum + x, 0) / xs.length;
    };
    expect(mean("web-b_2")).toBeGreaterThan(36);
    expect(mean("web-b_2")).toBeLessThan(44);
    expect(mean("web-b_3")).toBeLessThan(31);
  });
});

const DAY_MINUTES = 23 * 60;

describe("a ramp", () => {
  it("rises linearly from the base level to the level over rampSeconds", async () => {
    const clock = testClock();
    const scenario = await instantDemo((s) => {
      const version = s.resourceGroups[0]?.galleries[0]?.images[0]?.versions.find((v) => v.name === "1.1.0");
      if (version) {
        version.behaviour.metrics = { [CPU]: { level: 85, afterSeconds: 0, rampSeconds: 600 } };
        version.behaviour.noise = 0.02; // the line itself is under test, not the noise
      }
      s.metrics.instanceSpread = 0;
    });
    const h = await startHarness({ scenario, timeScale: 1, now: clock.now });
    try {
      clock.advance(10_000);
      const upgradedAt = clock.now();
      await upgrade(h, "web-d", "4", "1.1.0");
      clock.advance(20 * MINUTE);
      const series = await perVm(h, "northeurope", "web-d", {
        startTime: new Date(upgradedAt),
        endTime: new Date(upgradedAt + 20 * MINUTE),
      });
      const points = (series.get("web-d_4") ?? []).filter((p) => p.at >= upgradedAt);
      const near = points.filter((p) => {
        const age = Math.min(600, (p.at + MINUTE / 2 - upgradedAt) / 1000);
        const expected = 25 + (60 * age) / 600; // base 25 -> 85 over 600 s
        return Math.abs((p.average ?? 0) - expected) < expected * 0.08;
      });
      expect(points.length).toBeGreaterThanOrEqual(19);
      expect(near.length).toBe(points.length);
      const values = (series.get("web-d_4") ?? [])
        .filter((p) => p.at >= upgradedAt)
        .map((p) => p.average ?? 0);
      expect(values.at(-1)).toBeGreaterThan(70);
      expect(values[0]).toBeLessThan(40);
    } finally {
      await h.close();
    }
  });
});

describe("noise", () => {
  /** 23 hours (the demo's instances booted a day ago) of web-a's per-VM minutes from a simulator started with `seed`, at a fixed window. */
  async function day(seed: number | string, end: number, change?: (s: Scenario) => void) {
    const h = await startHarness({ scenario: await instantDemo(change), timeScale: 1, seed });
    try {
      return await perVm(h, "westeurope", "web-a", {
        startTime: new Date(end - DAY_MINUTES * MINUTE),
        endTime: new Date(end),
      });
    } finally {
      await h.close();
    }
  }
  const values = (series: Map<string, { average?: number }[]>, name: string) =>
    (series.get(name) ?? []).map((p) => p.average);

  it("one seed reproduces the series; another seed gives other noise", async () => {
    const end = floorMinute(Date.now()) - 10 * MINUTE;
    const [a, again, b] = [await day(7, end), await day(7, end), await day(8, end)];
    expect(values(again, "web-a_0")).toEqual(values(a, "web-a_0"));
    const differing = values(a, "web-a_0").filter((x, i) => x !== values(b, "web-a_0")[i]);
    expect(differing.length).toBeGreaterThan(DAY_MINUTES - 40);
  });

  it("each instance has its own offset and the per-minute noise has heavy tails", async () => {
    const end = floorMinute(Date.now()) - 10 * MINUTE;
    const series = await day(7, end, (s) => {
      s.metrics.instanceSpread = 0.1;
    });
    const stats = [...series.keys()].map((name) => {
      const xs = values(series, name).filter((x) => typeof x === "number");
      const mean = xs.reduce((sum, x) => sum + x, 0) / xs.length;
      const m2 = xs.reduce((sum, x) => sum + (x - mean) ** 2, 0) / xs.length;
      const m4 = xs.reduce((sum, x) => sum + (x - mean) ** 4, 0) / xs.length;
      return { mean, sd: Math.sqrt(m2), kurtosis: m4 / m2 ** 2, n: xs.length };
    });
    expect(stats.every((s) => s.n === DAY_MINUTES)).toBe(true);
    const means = stats.map((s) => s.mean);
    // The standard error of a day's mean is ~0.05 here: instance means ~2.7 apart are offsets.
    expect(Math.max(...means) - Math.min(...means)).toBeGreaterThan(1);
    // A Gaussian's kurtosis is 3; Student-t with 3 degrees of freedom has far heavier tails.
    for (const s of stats) expect(s.kurtosis).toBeGreaterThan(4);
  });

  it("drops about the configured share of minutes when missingMinuteRate is set", async () => {
    const end = floorMinute(Date.now()) - 10 * MINUTE;
    const series = await day(7, end, (s) => {
      s.metrics.missingMinuteRate = 0.2;
    });
    const all = [...series.values()].flat();
    const missing = all.filter((p) => p.average === undefined).length / all.length;
    expect(all.length).toBe(5 * DAY_MINUTES);
    expect(missing).toBeGreaterThan(0.17);
    expect(missing).toBeLessThan(0.23);
  });
});

describe("at a time scale", () => {
  it("projects the history onto the caller's clock (endtime is its now): 1.6.0's onset after 120 of its seconds", async () => {
    const clock = testClock();
    const scale = 60;
    const h = await startHarness({
      scenario: await instantDemo(),
      timeScale: scale,
      now: clock.now,
      metricsIngestionDelaySeconds: 60,
    });
    // The caller's accelerated clock has its own origin, here 7 wall seconds before the simulator's.
    const origin = clock.now() - 7_000;
    const callerNow = () => origin + (clock.now() - origin) * scale;
    try {
      clock.advance(1_000);
      const upgradedAt = callerNow();
      await upgrade(h, "web-c", "1", "1.6.0");
      clock.advance(10_000); // ten minutes on the caller's clock
      const end = callerNow();
      const series = await perVm(h, "northeurope", "web-c", {
        startTime: new Date(upgradedAt - 5 * MINUTE),
        endTime: new Date(end),
      });
      const points = series.get("web-c_1") ?? [];
      const before = points.filter((p) => p.at + MINUTE <= upgradedAt);
      const early = points.filter((p) => p.at >= upgradedAt && p.at + MINUTE / 2 - upgradedAt < 120_000);
      const late = points.filter((p) => p.at >= upgradedAt + 120_000 && p.at + MINUTE <= end - MINUTE);
      expect(before.length).toBeGreaterThanOrEqual(4);
      expect(early.length).toBeGreaterThanOrEqual(1);
      expect(late.length).toBeGreaterThanOrEqual(6);
      mostly([...before, ...early], (x) => x < 40);
      mostly(late, (x) => x > 80);
      // The ingestion delay is counted on the caller's clock too: its last minute is absent.
      expect(points.at(-1)?.at).toBe(floorMinute(end));
      expect(points.at(-1)?.average).toBeUndefined();
    } finally {
      await h.close();
    }
  });
});

describe("ingestion delay", () => {
  it("hides the minutes younger than metricsIngestionDelaySeconds and says so in the connection", async () => {
    const clock = testClock();
    const h = await startHarness({
      scenario: await instantDemo(),
      timeScale: 1,
      now: clock.now,
      metricsIngestionDelaySeconds: 180,
    });
    try {
      expect(h.sim.connection.metricsIngestionDelaySeconds).toBe(180);
      const now = clock.now();
      const series = await perVm(h, "westeurope", "web-a", {
        startTime: new Date(floorMinute(now) - 10 * MINUTE),
        endTime: new Date(now),
      });
      const points = series.get("web-a_0") ?? [];
      const latest = points.filter((p) => typeof p.average === "number").at(-1)?.at;
      // The minute that holds `now - 180 s` is still filling: it shows; every later one is absent.
      expect(latest).toBe(floorMinute(now - 180_000));
      expect(points.at(-1)?.at).toBe(floorMinute(now));
      expect(points.at(-1)?.average).toBeUndefined();
    } finally {
      await h.close();
    }
  });

  it("without a delay the current minute already shows, and nothing after now", async () => {
    const clock = testClock();
    const h = await startHarness({ scenario: await instantDemo(), timeScale: 1, now: clock.now });
    try {
      const now = clock.now();
      const series = await perVm(h, "westeurope", "web-a", {
        startTime: new Date(floorMinute(now) - 5 * MINUTE),
        endTime: new Date(floorMinute(now) + 5 * MINUTE),
      });
      const points = series.get("web-a_0") ?? [];
      expect(points.filter((p) => typeof p.average === "number").at(-1)?.at).toBe(floorMinute(now));
      expect(points).toHaveLength(10);
    } finally {
      await h.close();
    }
  });
});
