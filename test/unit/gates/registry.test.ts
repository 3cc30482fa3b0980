/**
 * The gate registry is complete: every registered kind parses through the spec schema (the union
 * is built from the registry), has its section in docs/gates.md, and names simulator operations
 * the simulator serves. Mutations caught: a provider whose docs anchor has no heading, a provider
 * naming an operation no route has (or with none), a kind left out of the spec union, two
 * providers of one kind.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { gateSchema } from "../../../src/domain/spec.ts";
import { gateProvider, gateProviders } from "../../../src/gates/registry.ts";
import { ROUTES } from "../../../src/simulator/server.ts";

const docs = readFileSync(new URL("../../../docs/gates.md", import.meta.url), "utf8");
/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
const anchors = new Set(
  [...docs.matchAll(/^#{2,3} (.+)$/gm)].map((match) =>
    (match[1] ?? "")
      .trim()
      .toLowerCase()
      .replace(/[^\w\- ]/g, "")
      .replace(/ /g, "-"),
  ),
);
const operations = new Set(ROUTES.map((route) => route.operation));

describe("gate registry", () => {
  it("has one provider per kind, each the one the evaluator finds", () => {
    const kinds = gateProviders.map((provider) => provider.kind);
    expect(new Set(kinds).size).toBe(kinds.length);
    for (const provider of gateProviders) expect(gateProvider(provider.kind)).toBe(provider);
    expect(() => gateProvider("nope")).toThrow(expect.objectContaining({ code: "GATE_KIND_UNKNOWN" }));
  });

  it.each(gateProviders.map((provider) => [provider.kind, provider] as const))(
    "%s has a docs/gates.md section and a simulator path",
    (_kind, provider) => {
      expect(anchors, `docs/gates.md has no section #${provider.docs}`).toContain(provider.docs);
      expect(provider.simulator.length).toBeGreaterThan(0);
      for (const operation of provider.simulator)
        expect(operations, `the simulator serves no ${operation}`).toContain(operation);
    },
  );

  it("builds the spec's gate union from the registry: every kind is accepted, others refused", () => {
    const union = gateSchema.options.map((option) => option);
    expect(union).toEqual(gateProviders.map((provider) => provider.schema));
    expect(gateSchema.safeParse({ kind: "instanceHealth" }).success).toBe(true);
    expect(gateSchema.safeParse({ kind: "nope" }).success).toBe(false);
  });
});
