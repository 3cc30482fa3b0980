/**
 * Both inventory sources on the demo scenario (two regions, instance ids that are not contiguous
 * and sort differently as text, a protected instance, an Automatic scale set), after another
 * actor has moved web-a's and web-d's models (their instances drift; one scaled-out instance of
 * web-a runs the new model) and pointed web-c's model at the image definition (unpinned): each source agrees exactly with the
 * simulator's own state, and the two agree with each other. Real SDK clients, real simulator; the
 * rollouts join reads an empty rollout list (no rollouts run here).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AzureAccess } from "../../../src/azure/credentials.ts";
import { StaticTokenCredential } from "../../../src/azure/credentials.ts";
import { loadConfig } from "../../../src/config/load-config.ts";
import { createArmInventoryReader } from "../../../src/inventory/arm-reader.ts";
import { type InventoryAnswer, InventoryService } from "../../../src/inventory/inventory-service.ts";
import { createResourceGraphInventoryReader } from "../../../src/inventory/resource-graph-reader.ts";
import { type Harness, RG, startHarness } from "../simulator/support.ts";

let h: Harness;
let service: InventoryService;

beforeAll(async () => {
  // Four rows a page: the demo's 24 instances (after the scale-out) take six pages.
  h = await startHarness({ resourceGraphPageSize: 4, resourceGraphQuota: { limit: 100, windowSeconds: 5 } });
  const { connection } = h.sim;
  const access: AzureAccess = {
    credential: new StaticTokenCredential(connection.token),
    resourceManagerEndpoint: connection.resourceManagerEndpoint,
    metricsEndpointFor: (region) => connection.metricsEndpoint.replace("{region}", region),
    metricsAudience: "https://metrics.monitor.azure.com",
    logAnalyticsEndpoint: connection.logAnalyticsEndpoint,
    logAnalyticsAudience: "https://api.loganalytics.io",
    ca: connection.caCert,
  };
  const defaults = loadConfig({ env: {} });
  service = new InventoryService({
    reader: createArmInventoryReader(access),
    resourceGraph: createResourceGraphInventoryReader(access, { maxQuotaWaitSeconds: 5 }),
    rollouts: { list: async () => ({ items: [] }) },
    config: { inventory: { ...defaults.inventory, cacheSeconds: 0 }, policy: defaults.policy },
    now: () => new Date(),
  });
  h.sim.foreignModelWrite("web-a", { gallery: "demoGallery", image: "web", version: "1.5.0" });
  h.sim.scaleOut("web-a", 1);
  // web-d's ids (1 4 5 6 10 12) sort differently as text: its drifted list shows the order kept.
  h.sim.foreignModelWrite("web-d", { gallery: "demoGallery", image: "web", version: "1.5.0" });
  h.sim.foreignModelWrite("web-c", { id: h.versionId("1.0.0").replace(/\/versions\/[^/]+$/, "") });
});
afterAll(async () => h?.close());

/** The simulator's own state: each scale set's instances with the version each one runs. */
function truth() {
  return ["web-a", "web-auto", "web-b", "web-c", "web-d"].map((name) => ({
    id: h.scaleSetId(name),
    name,
    instances: h.sim.instanceImages(h.scaleSetId(name)),
  }));
}

function expectAgrees(answer: InventoryAnswer) {
  const state = truth();
  expect(answer.scaleSets.map((s) => s.name).sort()).toEqual(state.map((s) => s.name));
  for (const ss of state) {
    const got = answer.scaleSets.find((s) => s.id.toLowerCase() === ss.id.toLowerCase());
    const byVersion: Record<string, number> = {};
    for (const i of ss.instances) byVersion[i.version ?? "?"] = (byVersion[i.version ?? "?"] ?? 0) + 1;
    const drifted = ss.instances.filter((i) => !i.latestModelApplied).map((i) => i.instanceId);
    expect(got?.instances, `${answer.source} ${ss.name}`).toEqual({
      total: ss.instances.length,
      byVersion,
      notOnLatestModel: drifted.length,
      notOnLatestModelIds: drifted,
    });
  }
}

describe("the demo fleet with a drifted scale set and an unpinned model", () => {
  // Mutations: the Resource Graph reader sorts instance ids as text, keys instances to the wrong
  // scale set, drops a page, or reads Flexible/Uniform rows from the wrong table -> fails.
  it("reads the same inventory from Resource Manager and Resource Graph, equal to the simulator's state", async () => {
    const arm = await service.inventory({
      scope: { subscriptionId: h.sim.connection.subscriptionId },
      source: "arm",
    });
    const graph = await service.inventory({
      scope: { subscriptionId: h.sim.connection.subscriptionId, resourceGroup: RG },
      source: "resourceGraph",
    });
    expect([arm.source, graph.source]).toEqual(["arm", "resourceGraph"]);
    expectAgrees(arm);
    expectAgrees(graph);
    const sorted = (a: InventoryAnswer) => [...a.scaleSets].sort((x, y) => x.name.localeCompare(y.name));
    expect(sorted(graph)).toEqual(sorted(arm));
    expect(graph.images).toEqual(arm.images);
    const codes = (a: InventoryAnswer) =>
      a.findings.map((f) => `${f.code} ${f.scaleSetId?.split("/").pop()}`).sort();
    expect(codes(graph)).toEqual(codes(arm));

    const webA = graph.scaleSets.find((s) => s.name === "web-a");
    // Five instances still on 1.0.0 and off the model; the scaled-out one runs the model's 1.5.0.
    expect(webA?.instances).toMatchObject({
      total: 6,
      byVersion: { "1.0.0": 5, "1.5.0": 1 },
      notOnLatestModel: 5,
    });
    expect(webA?.instances.notOnLatestModelIds).toEqual(["0", "2", "3", "7", "9"]);
    expect(graph.scaleSets.find((s) => s.name === "web-c")?.model.pinned).toBe(false);
    expect(graph.scaleSets.find((s) => s.name === "web-d")?.instances.notOnLatestModelIds).toEqual([
      "1",
      "4",
      "5",
      "6",
      "10",
      "12",
    ]);
    expect(codes(graph)).toEqual(
      expect.arrayContaining(["unpinnedModel web-c", "instancesNotOnLatestModel web-a"]),
    );
    expect(graph.calls.resourceGraph).toBe(Math.ceil(5 / 4) + Math.ceil(24 / 4));
  });
});
