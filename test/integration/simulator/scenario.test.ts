/** The scenario file: the demo scenario's promises, and refusals that name the field. */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadScenarioFile, parseScenario, ScenarioError } from "../../../src/simulator/scenario.ts";
import { DEMO } from "./support.ts";

describe("demo scenario", () => {
  it("has four Manual scale sets in two regions with 4-10 instances on 1.0.0, and one Automatic", async () => {
    const scenario = await loadScenarioFile(DEMO);
    const rg = scenario.resourceGroups.find((r) => r.name === "rg-demo");
    const manual = rg?.scaleSets.filter((s) => s.upgradePolicy === "Manual") ?? [];
    expect(manual.length).toBeGreaterThanOrEqual(4);
    expect(new Set(manual.map((s) => s.location)).size).toBe(2);
    for (const ss of manual) {
      const count = ss.instanceIds?.length ?? ss.capacity ?? 0;
      expect(count).toBeGreaterThanOrEqual(4);
      expect(count).toBeLessThanOrEqual(10);
      expect(ss.image).toEqual({ gallery: "demoGallery", image: "web", version: "1.0.0" });
    }
    expect(rg?.scaleSets.filter((s) => s.upgradePolicy === "Automatic")).toHaveLength(1);
  });

  it("defines versions 1.0.0 to 1.7.0 with the documented behaviours", async () => {
    const scenario = await loadScenarioFile(DEMO);
    const versions =
      scenario.resourceGroups[0]?.galleries
        .find((g) => g.name === "demoGallery")
        ?.images.find((i) => i.name === "web")?.versions ?? [];
    const byName = Object.fromEntries(versions.map((v) => [v.name, v]));
    expect(Object.keys(byName)).toEqual([
      "1.0.0",
      "1.1.0",
      "1.2.0",
      "1.3.0",
      "1.4.0",
      "1.5.0",
      "1.6.0",
      "1.7.0",
    ]);
    expect(byName["1.2.0"]?.behaviour.boot).toBe("kernelPanic");
    expect(byName["1.3.0"]?.behaviour.health).toBe("unhealthy");
    expect(byName["1.4.0"]?.behaviour.metrics["Percentage CPU"]).toBe(95);
    for (const good of ["1.0.0", "1.1.0"]) {
      const cpu = byName[good]?.behaviour.metrics["Percentage CPU"] ?? 0;
      expect(cpu).toBeGreaterThanOrEqual(20);
      expect(cpu).toBeLessThanOrEqual(35);
    }
    expect(byName["1.5.0"]?.replication.failedRegions).toEqual(["northeurope"]);
    expect(byName["1.6.0"]?.behaviour.metrics["Percentage CPU"]).toEqual({
      initial: 25,
      afterSeconds: 120,
      rampSeconds: 0,
      level: 95,
    });
    expect(byName["1.7.0"]?.behaviour.metrics["Percentage CPU"]).toBe("+60%");
    expect(scenario.metrics).toMatchObject({
      baseline: { "Percentage CPU": 25 },
      ingestionDelaySeconds: 120,
    });
  });
});

describe("invalid scenarios", () => {
  it("are refused with the path of every problem", async () => {
    const demo = parse(await readFile(DEMO, "utf8"));
    demo.subscriptionId = "not-a-uuid";
    demo.resourceGroups[0].scaleSets[0].image.version = "9.9.9";
    demo.resourceGroups[0].scaleSets[1].name = "web-a";
    let error: unknown;
    try {
      parseScenario(demo);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ScenarioError);
    expect((error as ScenarioError).code).toBe("SIM_SCENARIO_INVALID");
    expect((error as Error).message).toContain("subscriptionId");
    expect((error as Error).message).toContain("resourceGroups.0.scaleSets.0.image");
    expect((error as Error).message).toContain("duplicate scale set web-a");
  });

  it("refuse a relative metric level without its sign and a missing-minute rate above 1", async () => {
    const demo = parse(await readFile(DEMO, "utf8"));
    demo.resourceGroups[0].galleries[0].images[0].versions[7].behaviour.metrics["Percentage CPU"] = "60%";
    demo.metrics.missingMinuteRate = 2;
    expect(() => parseScenario(demo)).toThrow(
      /galleries\.0\.images\.0\.versions\.7\.behaviour\.metrics\.Percentage CPU.*metrics\.missingMinuteRate|metrics\.missingMinuteRate.*versions\.7/,
    );
  });
});
