/**
 * Contract: Microsoft.ResourceGraph/resources as the real @azure/arm-resourcegraph client sees it,
 * for the queries canaryd sends (src/inventory/resource-graph-reader.ts): rows as the resources'
 * wire JSON, paging with $skipToken, the quota headers, and 400 for any other query.
 */
import { ResourceGraphClient } from "@azure/arm-resourcegraph";
import { isRestError } from "@azure/core-rest-pipeline";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { instancesQuery, scaleSetsQuery } from "../../../src/inventory/resource-graph-reader.ts";
import { StaticTokenCredential, simulatorClientOptions } from "../../../src/simulator/index.ts";
import { adminRequest, type Harness, RG, startHarness } from "./support.ts";

let h: Harness;
let graph: ResourceGraphClient;
let sub: string;
let headers: Record<string, string | undefined> = {};

beforeAll(async () => {
  // Three rows a page, so the demo's five scale sets and 22 instances take several pages.
  h = await startHarness({ resourceGraphPageSize: 3, resourceGraphQuota: { limit: 1000, windowSeconds: 5 } });
  sub = h.sim.connection.subscriptionId;
  graph = new ResourceGraphClient(
    new StaticTokenCredential(h.sim.connection.token),
    simulatorClientOptions(h.sim.connection),
  );
});
afterAll(async () => h.close());
beforeEach(() => {
  h.sim.setResourceGraphQuota({ limit: 1000, windowSeconds: 5 });
});

async function query(
  text: string,
  options: { skipToken?: string; top?: number } = {},
  subscriptions = [sub],
) {
  return graph.resources(
    { query: text, subscriptions, options: { resultFormat: "objectArray", top: 1000, ...options } },
    {
      onResponse: (raw) => {
        headers = {
          remaining: raw.headers.get("x-ms-user-quota-remaining"),
          resetsAfter: raw.headers.get("x-ms-user-quota-resets-after"),
        };
      },
    },
  );
}

async function allRows(text: string, subscriptions = [sub]) {
  const rows: Record<string, unknown>[] = [];
  const pages: number[] = [];
  let skipToken: string | undefined;
  do {
    const page = await query(text, skipToken ? { skipToken } : {}, subscriptions);
    rows.push(...(page.data as Record<string, unknown>[]));
    pages.push(page.count);
    skipToken = page.skipToken;
  } while (skipToken);
  return { rows, pages };
}

describe("the queries canaryd sends", () => {
  // Mutation: build `resources` rows from instances (or drop the scale-set properties) -> fails.
  it("scale sets come from `resources` as their wire JSON: image reference, upgrade policy", async () => {
    const { rows } = await allRows(scaleSetsQuery());
    expect(rows.map((r) => r.name)).toEqual(["web-a", "web-auto", "web-b", "web-c", "web-d"]);
    const webA = rows.find((r) => r.name === "web-a") as {
      type: string;
      resourceGroup: string;
      subscriptionId: string;
      properties: {
        upgradePolicy: { mode: string };
        virtualMachineProfile: { storageProfile: { imageReference: { id: string } } };
      };
    };
    expect(webA.type).toBe("microsoft.compute/virtualmachinescalesets");
    expect(webA.subscriptionId).toBe(sub);
    expect(webA.resourceGroup.toLowerCase()).toBe(RG);
    expect(webA.properties.upgradePolicy.mode).toBe("Manual");
    expect(webA.properties.virtualMachineProfile.storageProfile.imageReference.id).toBe(h.versionId("1.0.0"));
    expect(Object.keys(webA).sort()).toEqual(
      [
        "id",
        "name",
        "type",
        "location",
        "resourceGroup",
        "subscriptionId",
        "tags",
        "sku",
        "zones",
        "properties",
      ].sort(),
    );
  });

  // Mutation: serve Uniform instances from `resources`, or leave out latestModelApplied -> fails.
  it("Uniform instances come from `computeresources`: each one's image and latestModelApplied", async () => {
    const { rows } = await allRows(instancesQuery());
    const truth = (await adminRequest(h.sim, "GET", "/instances")).json as {
      value: {
        id: string;
        instances: { instanceId: string; version: string; latestModelApplied: boolean }[];
      }[];
    };
    const expected = truth.value.flatMap((ss) =>
      ss.instances.map((i) => ({
        id: `${ss.id}/virtualMachines/${i.instanceId}`,
        version: i.version,
        latest: i.latestModelApplied,
      })),
    );
    const got = rows.map((r) => {
      const p = r.properties as {
        latestModelApplied: boolean;
        storageProfile: { imageReference: { exactVersion?: string; version?: string; id?: string } };
      };
      const ref = p.storageProfile.imageReference;
      return {
        id: r.id,
        version: ref.exactVersion ?? ref.id?.split("/").pop(),
        latest: p.latestModelApplied,
      };
    });
    expect(got).toEqual(expected.sort((a, b) => (a.id < b.id ? -1 : 1)));
    expect(rows.every((r) => r.type === "microsoft.compute/virtualmachinescalesets/virtualmachines")).toBe(
      true,
    );
  });

  // Mutation: skip `offset + count` wrongly in the skip token, or never send one -> fails.
  it("pages with $skipToken: every row once, pages of the configured size, totalRecords on each", async () => {
    const first = await query(instancesQuery());
    expect(first.count).toBe(3);
    expect(first.skipToken).toBeTruthy();
    const { rows, pages } = await allRows(instancesQuery());
    expect(rows).toHaveLength(first.totalRecords);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    expect(pages.slice(0, -1).every((n) => n === 3)).toBe(true);
    expect(pages.length).toBe(Math.ceil(first.totalRecords / 3));
    // A token belongs to its query: sent with another query it is refused.
    await expect(query(scaleSetsQuery(), { skipToken: first.skipToken as string })).rejects.toMatchObject({
      statusCode: 400,
    });
  });

  // Mutation: ignore the resource-group filter or the request's subscriptions -> fails.
  it("honours the resource-group filter and the subscriptions the request names", async () => {
    expect((await allRows(scaleSetsQuery([RG.toUpperCase()]))).rows).toHaveLength(5);
    expect((await allRows(scaleSetsQuery(["rg-other"]))).rows).toHaveLength(0);
    const other = "00000000-0000-0000-0000-000000000001";
    expect((await allRows(scaleSetsQuery(), [other])).rows).toHaveLength(0);
    expect((await allRows(scaleSetsQuery(), [other, sub])).rows).toHaveLength(5);
  });
});

describe("anything else", () => {
  // Mutation: answer any query text (a general engine or a loose match) -> fails.
  it("answers 400 BadRequest with an InvalidQuery detail for a query it does not recognise", async () => {
    for (const text of [
      "resources | take 5",
      `${scaleSetsQuery()}\n| take 5`,
      scaleSetsQuery().replace("resources", "computeresources"),
      scaleSetsQuery().replace("project id,", "project"),
    ]) {
      const error = await query(text).catch((e: unknown) => e);
      expect(isRestError(error), text).toBe(true);
      expect(error).toMatchObject({ statusCode: 400, code: "BadRequest" });
      expect(JSON.stringify((error as { details?: unknown }).details)).toContain("InvalidQuery");
    }
  });
});

describe("quota", () => {
  // Mutation: drop the headers, or stop counting queries in the window -> fails.
  it("sends x-ms-user-quota-remaining and -resets-after on every answer, counting down", async () => {
    h.sim.setResourceGraphQuota({ limit: 3, windowSeconds: 60 });
    await query(scaleSetsQuery());
    expect(headers).toEqual({ remaining: "2", resetsAfter: "00:01:00" });
    await query(scaleSetsQuery());
    expect(headers.remaining).toBe("1");
  });

  // Mutation: let a query through with the quota spent -> fails.
  it("answers 429 with remaining 0 once the quota is spent (limit 0 through the admin route)", async () => {
    const set = await adminRequest(h.sim, "PUT", "/resourcegraph/quota", { limit: 0, windowSeconds: 30 });
    expect(set.status).toBe(200);
    const error = await query(scaleSetsQuery()).catch((e: unknown) => e);
    expect(error).toMatchObject({ statusCode: 429 });
    const sent = (error as { response: { headers: { get(n: string): string | undefined } } }).response
      .headers;
    expect(sent.get("x-ms-user-quota-remaining")).toBe("0");
    expect(sent.get("x-ms-user-quota-resets-after")).toBe("00:00:30");
  });
});
