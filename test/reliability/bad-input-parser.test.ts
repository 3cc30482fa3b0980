/**
 * The spec parser under hostile input (fast-check): whatever arrives, parseRolloutSpec and
 * validateRolloutSpec answer with errors that name a field path and a rule. They never throw,
 * never accept garbage, and refuse alias bombs, deep nesting and huge documents quickly.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  maxSpecBytes,
  parseRolloutSpec,
  type SpecResult,
  validateRolloutSpec,
} from "../../src/domain/parse-spec.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";

const results = new ResultsRecorder("bad-input-parser");
afterAll(() => results.write());

const galleryVersion =
  "/subscriptions/5f2b8c1e-3a4d-4e6f-9b0a-1c2d3e4f5a6b/resourceGroups/rg-demo/providers/Microsoft.Compute/galleries/demoGallery/images/web/versions/1.1.0";
const scaleSet =
  "/subscriptions/5f2b8c1e-3a4d-4e6f-9b0a-1c2d3e4f5a6b/resourceGroups/rg-demo/providers/Microsoft.Compute/virtualMachineScaleSets/web-a";
const validSpec = () => ({
  name: "web-1.1.0",
  image: { galleryImageVersionId: galleryVersion },
  waves: [{ name: "first", scaleSets: [scaleSet] }],
  strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 5, maxParallelScaleSets: 1 },
  gates: [{ kind: "instanceHealth" }],
});

/** A refusal a person can act on: at least one error, each with a path string and a non-empty rule. */
function expectClearRefusal(result: SpecResult): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.errors.length).toBeGreaterThan(0);
  for (const error of result.errors) {
    expect(typeof error.path).toBe("string");
    expect(error.rule.trim().length).toBeGreaterThan(0);
    expect(error.rule).not.toMatch(/\bat .*\.ts:\d+/); // no stack traces
  }
}

/** Paths of the valid spec's leaves and objects, to aim mutations at. */
const fieldPaths: string[][] = [
  ["name"],
  ["image"],
  ["image", "galleryImageVersionId"],
  ["waves"],
  ["waves", "0"],
  ["waves", "0", "name"],
  ["waves", "0", "scaleSets"],
  ["waves", "0", "scaleSets", "0"],
  ["strategy"],
  ["strategy", "canary"],
  ["strategy", "canary", "instances"],
  ["strategy", "batchPercent"],
  ["strategy", "bakeSeconds"],
  ["gates"],
  ["gates", "0", "kind"],
];

function setAt(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node: Record<string, unknown> = target;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[path.at(-1) ?? ""] = value;
}

/** Runs per property: seconds in CI; a soak raises it (RELIABILITY_RUNS=2000). */
const numRuns = Number(process.env.RELIABILITY_RUNS ?? 200);

describe("the spec parser under hostile input", () => {
  it("answers any text, as YAML or JSON, with a result and never a throw", async () => {
    await results.trial("garbled text (any unicode) as YAML and JSON", numRuns * 2, async () => {
      fc.assert(
        fc.property(
          fc.string({ unit: "binary", maxLength: 400 }),
          fc.constantFrom("yaml" as const, "json" as const),
          (text, type) => {
            const result = parseRolloutSpec(text, type);
            if (!result.ok) expectClearRefusal(result);
          },
        ),
        { numRuns: numRuns * 2 },
      );
      return { outcome: "every input answered with errors naming a path and a rule; no throw" };
    });
  });

  it("refuses any JSON value that is not a spec, with errors naming a path", async () => {
    await results.trial("arbitrary JSON values", numRuns, async () => {
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
          expectClearRefusal(validateRolloutSpec(value));
          expectClearRefusal(parseRolloutSpec(JSON.stringify(value) ?? "null", "json"));
        }),
        { numRuns },
      );
      return { outcome: "all refused with a path and a rule" };
    });
  });

  it("names the field when one field of a valid spec has the wrong type", async () => {
    await results.trial("one field of a valid spec given a wrong-typed value", numRuns, async () => {
      const wrong = fc.oneof(
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.integer(), { maxLength: 3 }),
        fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
        fc.double(),
      );
      fc.assert(
        fc.property(fc.constantFrom(...fieldPaths), wrong, (path, value) => {
          const spec = validSpec() as unknown as Record<string, unknown>;
          setAt(spec, path, value);
          const result = validateRolloutSpec(spec);
          // Some values stay valid (a number where a number goes): only refusals are checked.
          if (result.ok) return;
          expectClearRefusal(result);
          const dotted = path
            .map((k) => (/^\d+$/.test(k) ? `[${k}]` : `.${k}`))
            .join("")
            .replace(/^\./, "");
          expect(result.errors.some((e) => e.path.startsWith(dotted) || dotted.startsWith(e.path))).toBe(
            true,
          );
        }),
        { numRuns },
      );
      return { outcome: "every refusal names the field that was changed (or its parent)" };
    });
  });

  it("refuses unknown fields anywhere, naming them", async () => {
    await results.trial("unknown fields added at any level", numRuns, async () => {
      const objects: string[][] = [
        [],
        ["image"],
        ["waves", "0"],
        ["strategy"],
        ["strategy", "canary"],
        ["gates", "0"],
      ];
      fc.assert(
        fc.property(
          fc.constantFrom(...objects),
          fc.string({ minLength: 1, maxLength: 20 }).filter((k) => !["__proto__", "constructor"].includes(k)),
          fc.jsonValue({ maxDepth: 2 }),
          (path, key, value) => {
            const spec = validSpec() as unknown as Record<string, unknown>;
            let node = spec;
            for (const k of path) node = node[k] as Record<string, unknown>;
            fc.pre(!(key in node));
            node[key] = value;
            const result = validateRolloutSpec(spec);
            expectClearRefusal(result);
            if (result.ok) return;
            // `image` is a union: its refusal says what it may hold instead of naming the extra key.
            const named = result.errors.some(
              (e) =>
                e.rule.includes(key) ||
                e.path.includes(key) ||
                /exactly one of galleryImageVersionId or urn/.test(e.rule),
            );
            expect(named, JSON.stringify(result.errors)).toBe(true);
          },
        ),
        { numRuns },
      );
      return { outcome: "refused, the unknown key named (in image: the two keys it may hold)" };
    });
  });

  it("refuses names and scale set ids with odd characters instead of passing them on", async () => {
    await results.trial("odd characters in names and scale set ids", numRuns, async () => {
      const odd = fc.oneof(
        fc.string({ unit: "binary", minLength: 1, maxLength: 60 }),
        fc.constantFrom(
          "../../etc/passwd",
          "a\u0000b",
          "web\nname",
          "💥",
          " ",
          "%2e%2e",
          "<script>",
          "a:b:c",
          "{canaryd}",
        ),
      );
      fc.assert(
        fc.property(
          odd,
          fc.constantFrom<string[]>(["waves", "0", "scaleSets", "0"], ["image", "galleryImageVersionId"]),
          (text, path) => {
            const spec = validSpec() as unknown as Record<string, unknown>;
            setAt(spec, path, text);
            expectClearRefusal(validateRolloutSpec(spec));
          },
        ),
        { numRuns },
      );
      return { outcome: "refused: not a resource id" };
    });
  });

  it("refuses a YAML alias bomb quickly, naming aliases", async () => {
    await results.trial("YAML alias bomb (billion laughs, 9 levels)", 1, async () => {
      const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
      for (let i = 1; i < 9; i++) {
        const prev = String.fromCharCode(96 + i);
        const name = String.fromCharCode(97 + i);
        levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(", ")}]`);
      }
      const started = Date.now();
      const result = parseRolloutSpec(`${levels.join("\n")}\n`, "yaml");
      const elapsed = Date.now() - started;
      expectClearRefusal(result);
      expect(JSON.stringify(result)).toMatch(/alias/i);
      expect(elapsed).toBeLessThan(1_000);
      return { outcome: `refused in ${elapsed} ms: ${result.ok ? "" : result.errors[0]?.rule}` };
    });
  });

  it("refuses deep nesting without overflowing the stack", async () => {
    await results.trial("deep nesting (10 000 levels) as JSON and YAML", 2, async () => {
      const depth = 10_000;
      const json = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      const yaml = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      const nestedObject = `{"name":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`;
      for (const [text, type] of [
        [json, "json"],
        [yaml, "yaml"],
        [nestedObject, "json"],
      ] as const) {
        expectClearRefusal(parseRolloutSpec(text, type));
      }
      return { outcome: "refused with an error, no stack overflow" };
    });
  });

  it("refuses a document over the size limit before parsing it", async () => {
    await results.trial("document over 256 KiB", 1, async () => {
      const big = JSON.stringify({ ...validSpec(), labels: { pad: "x".repeat(maxSpecBytes) } });
      const result = parseRolloutSpec(big, "json");
      expectClearRefusal(result);
      expect(JSON.stringify(result)).toMatch(/too large/);
      return { outcome: "refused: document too large" };
    });
  });
});
