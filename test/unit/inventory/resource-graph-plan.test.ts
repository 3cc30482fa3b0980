/**
 * The Resource Graph reader's plan: which queries one read sends for a set of scopes (subscriptions
 * batched, resource groups filtered, names checked) and how it reads the quota's reset header.
 */
import { describe, expect, it } from "vitest";
import {
  instancesQuery,
  parseResetsAfter,
  planQueries,
  scaleSetsQuery,
} from "../../../src/inventory/resource-graph-reader.ts";

const subs = (n: number) => Array.from({ length: n }, (_, i) => `sub-${i}`);

describe("planQueries", () => {
  // Mutation: one query pair per subscription, or a batch larger than asked -> fails.
  it("batches whole subscriptions: one scale-set and one instance query per batch", () => {
    const planned = planQueries(
      subs(5).map((subscriptionId) => ({ subscriptionId })),
      2,
    );
    expect(planned.map((p) => [p.kind, p.subscriptions])).toEqual([
      ["scaleSets", ["sub-0", "sub-1"]],
      ["instances", ["sub-0", "sub-1"]],
      ["scaleSets", ["sub-2", "sub-3"]],
      ["instances", ["sub-2", "sub-3"]],
      ["scaleSets", ["sub-4"]],
      ["instances", ["sub-4"]],
    ]);
    expect(planned[0]?.query).toBe(scaleSetsQuery());
    expect(planned[1]?.query).toBe(instancesQuery());
  });

  // Mutation: drop the resource-group filter, or read a group twice when its subscription is read whole -> fails.
  it("filters resource-group scopes per subscription and lets a whole subscription cover its groups", () => {
    const planned = planQueries([
      { subscriptionId: "a", resourceGroup: "rg-2" },
      { subscriptionId: "a", resourceGroup: "rg-1" },
      { subscriptionId: "b", resourceGroup: "rg-x" },
      { subscriptionId: "B" },
    ]);
    expect(planned.map((p) => [p.kind, p.subscriptions])).toEqual([
      ["scaleSets", ["b"]],
      ["instances", ["b"]],
      ["scaleSets", ["a"]],
      ["instances", ["a"]],
    ]);
    expect(planned[2]?.query).toContain("| where resourceGroup in~ ('rg-1', 'rg-2')\n");
    expect(planned[0]?.query).not.toContain("resourceGroup in~");
  });

  // Mutation: quote resource group names into KQL unchecked -> a quote reaches the query.
  it("refuses a resource group name that is not one, naming it", () => {
    expect(() => planQueries([{ subscriptionId: "a", resourceGroup: "x') or (1==1" }])).toThrow(
      expect.objectContaining({
        code: "INVENTORY_SCOPE_INVALID",
        message: expect.stringContaining("x') or (1==1"),
      }),
    );
  });

  // Mutation: a query without `order by id` or with `take` (which turns $skipToken paging off) -> fails.
  it("sends queries ordered by id and without take or limit", () => {
    for (const query of [scaleSetsQuery(), instancesQuery(["rg"])]) {
      expect(query.endsWith("| order by id asc")).toBe(true);
      expect(query).not.toMatch(/\b(take|limit)\b/);
    }
    expect(instancesQuery().startsWith("computeresources\n")).toBe(true);
    expect(scaleSetsQuery().startsWith("resources\n")).toBe(true);
  });
});

describe("parseResetsAfter", () => {
  // Mutation: read hh:mm:ss as seconds only -> fails.
  it("reads hh:mm:ss into milliseconds and refuses anything else", () => {
    expect(parseResetsAfter("00:00:03")).toBe(3000);
    expect(parseResetsAfter("01:02:03")).toBe(3_723_000);
    expect(parseResetsAfter("3")).toBeUndefined();
    expect(parseResetsAfter(undefined)).toBeUndefined();
  });
});
