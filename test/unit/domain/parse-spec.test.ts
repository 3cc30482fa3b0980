import { describe, expect, it } from "vitest";
import { maxSpecBytes, parseRolloutSpec, validateRolloutSpec } from "../../../src/domain/parse-spec.ts";

const sub = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute";
const vmss = (n: string) => `${sub}/virtualMachineScaleSets/${n}`;
const version = (v: string) => `${sub}/galleries/g/images/web/versions/${v}`;

const minimal = {
  name: "web-1.1.0",
  image: { galleryImageVersionId: version("1.1.0") },
  waves: [{ name: "first", scaleSets: [vmss("web-a")] }],
};

describe("parseRolloutSpec", () => {
  it("reads the documented YAML and fills the defaults", () => {
    const yaml = `
name: web-1.1.0
image:
  urn: Canonical:ubuntu-24_04-lts:server:24.04.202411030
waves:
  - name: first
    scaleSets: [ ${vmss("web-a")} ]
strategy:
  canary: { percent: 10 }
`;
    const result = parseRolloutSpec(yaml, "yaml");
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.spec.strategy).toMatchObject({
      canary: { percent: 10 },
      batchPercent: 50,
      approval: "none",
    });
    expect(result.spec.gates.map((g) => g.kind)).toEqual(["instanceHealth", "bootDiagnostics"]);
    expect(result.spec.rollback.automatic).toBe(true);
  });

  it("refuses a YAML alias bomb with a clear error", () => {
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x]",
      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
      "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
    ].join("\n");
    const result = parseRolloutSpec(bomb, "yaml");
    expect(result).toEqual({
      ok: false,
      errors: [{ path: "", rule: expect.stringMatching(/^not valid YAML: .*alias/i) }],
    });
  });

  it("refuses a document larger than the limit before parsing it", () => {
    const result = parseRolloutSpec(`name: ${"x".repeat(maxSpecBytes)}`, "yaml");
    expect(result).toEqual({ ok: false, errors: [{ path: "", rule: expect.stringMatching(/too large/) }] });
  });

  it("refuses duplicate keys and malformed JSON", () => {
    expect(parseRolloutSpec("name: a\nname: b\n", "yaml").ok).toBe(false);
    expect(parseRolloutSpec("{", "json")).toEqual({
      ok: false,
      errors: [{ path: "", rule: expect.stringMatching(/JSON/) }],
    });
  });
});

describe("validateRolloutSpec", () => {
  it("accepts the minimal spec", () => {
    expect(validateRolloutSpec(minimal).ok).toBe(true);
  });

  it("names the field path and the rule", () => {
    const result = validateRolloutSpec({ ...minimal, strategy: { canary: { percent: 0 } } });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([{ path: "strategy.canary.percent", rule: expect.stringMatching(/0/) }]);
  });

  it("names wave and scale set indexes", () => {
    const result = validateRolloutSpec({
      ...minimal,
      waves: [minimal.waves[0], { name: "rest", scaleSets: ["web-b"] }],
    });
    expect(result).toEqual({
      ok: false,
      errors: [{ path: "waves[1].scaleSets[0]", rule: "a scale set resource id" }],
    });
  });

  it("refuses a scale set in two waves, naming both places (ids compare case-insensitively)", () => {
    const result = validateRolloutSpec({
      ...minimal,
      waves: [minimal.waves[0], { name: "rest", scaleSets: [vmss("web-b"), vmss("WEB-A")] }],
    });
    expect(result).toEqual({
      ok: false,
      errors: [
        { path: "waves[1].scaleSets[1]", rule: "duplicate scale set: already in waves[0].scaleSets[0]" },
      ],
    });
  });

  it("refuses a gallery version that is not MAJOR.MINOR.PATCH or latest", () => {
    const result = validateRolloutSpec({ ...minimal, image: { galleryImageVersionId: version("1.1") } });
    expect(result).toEqual({
      ok: false,
      errors: [{ path: "image.galleryImageVersionId", rule: expect.stringMatching(/MAJOR.MINOR.PATCH/) }],
    });
    expect(validateRolloutSpec({ ...minimal, image: { galleryImageVersionId: version("latest") } }).ok).toBe(
      true,
    );
  });

  it("says what an image must be when it is neither kind", () => {
    const result = validateRolloutSpec({
      ...minimal,
      image: { urn: "a:b:c:d", galleryImageVersionId: version("1.0.0") },
    });
    expect(result).toEqual({
      ok: false,
      errors: [{ path: "image", rule: "exactly one of galleryImageVersionId or urn" }],
    });
    const badUrn = validateRolloutSpec({ ...minimal, image: { urn: "Canonical:ubuntu" } });
    expect(badUrn.ok ? [] : badUrn.errors).toEqual([
      { path: "image.urn", rule: "publisher:offer:sku:version" },
    ]);
  });

  it("names a metric gate's missing threshold by index", () => {
    const result = validateRolloutSpec({ ...minimal, gates: [{ kind: "metric", metric: "Percentage CPU" }] });
    expect(result.ok ? [] : result.errors).toEqual([
      { path: "gates[0].max", rule: "a metric gate needs min, max or both" },
    ]);
  });
});
