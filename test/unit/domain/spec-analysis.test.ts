/** The continuous-analysis part of the spec: strategy.analysis, gate names, the compare gate. */
import { describe, expect, it } from "vitest";
import { parseRolloutSpec, validateRolloutSpec } from "../../../src/domain/parse-spec.ts";
import { gateName } from "../../../src/domain/spec.ts";

const sub = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute";
const minimal = {
  name: "web-1.7.0",
  image: { galleryImageVersionId: `${sub}/galleries/g/images/web/versions/1.7.0` },
  waves: [{ name: "first", scaleSets: [`${sub}/virtualMachineScaleSets/web-a`] }],
};

describe("spec: analysis and compare gates", () => {
  it("reads the issue's YAML and fills the documented defaults", () => {
    const yaml = `
name: web-1.7.0
image: { galleryImageVersionId: ${minimal.image.galleryImageVersionId} }
waves: [ { name: first, scaleSets: [ ${minimal.waves[0]?.scaleSets[0]} ] } ]
strategy:
  bakeSeconds: 600
  analysis: { failureLimit: 1 }
gates:
  - kind: metric
    metric: Percentage CPU
    max: 80
  - name: cpu-vs-baseline
    kind: compare
    metric: Percentage CPU
`;
    const result = parseRolloutSpec(yaml, "yaml");
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.spec.strategy.analysis).toEqual({ intervalSeconds: 60, failureLimit: 1 });
    expect(result.spec.gates[1]).toEqual({
      name: "cpu-vs-baseline",
      kind: "compare",
      metric: "Percentage CPU",
      namespace: "Microsoft.Compute/virtualMachineScaleSets",
      aggregation: "Average",
      direction: "increase",
      tolerancePercent: 20,
      confidence: 0.98,
      onInconclusive: "fail",
    });
    expect(result.spec.gates.map(gateName)).toEqual(["metric", "cpu-vs-baseline"]);
  });

  it("defaults strategy.analysis when absent", () => {
    const result = validateRolloutSpec(minimal);
    expect(result.ok && result.spec.strategy.analysis).toEqual({ intervalSeconds: 60, failureLimit: 0 });
  });

  it("refuses two gates with one name, naming the path and the first user", () => {
    const result = validateRolloutSpec({
      ...minimal,
      gates: [
        { kind: "compare", metric: "Percentage CPU" },
        { kind: "compare", metric: "Network In Total" },
        { name: "cpu", kind: "metric", metric: "Percentage CPU", max: 80 },
        { name: "cpu", kind: "compare", metric: "Percentage CPU" },
      ],
    });
    expect(result).toEqual({
      ok: false,
      errors: [
        {
          path: "gates[1]",
          rule: "duplicate gate name 'compare': already used by gates[0]; give one of them a unique name",
        },
        { path: "gates[3].name", rule: "duplicate gate name 'cpu': already used by gates[2]" },
      ],
    });
  });

  it("refuses a compare gate's unknown direction and out-of-range confidence", () => {
    const result = validateRolloutSpec({
      ...minimal,
      gates: [{ kind: "compare", metric: "Percentage CPU", direction: "up", confidence: 1 }],
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => error.path).sort()).toEqual([
      "gates[0].confidence",
      "gates[0].direction",
    ]);
  });
});
