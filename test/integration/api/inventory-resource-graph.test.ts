/**
 * GET /v1/inventory from both sources against the simulator's inventory scenario (a drifted scale
 * set, an unpinned model): Resource Manager and Resource Graph each agree exactly with the
 * simulator's own state and with each other; Resource Graph pages with $skipToken (two rows a
 * page here), covers several subscriptions in one query, waits out a spent quota when it resets
 * soon and refuses with INVENTORY_QUOTA_EXHAUSTED when it does not.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { InventoryService } from "../../../src/inventory/inventory-service.ts";
import { runCli, urlOf } from "../../unit/cli/cli-harness.ts";
import { adminRequest } from "../simulator/support.ts";
import { type ApiStack, demoSubscriptionId, startApiStack } from "./api-stack.ts";

const PAGE = 2;
const roomy = { limit: 1000, windowSeconds: 5 };
let stack: ApiStack;

interface SimScaleSet {
  id: string;
  name: string;
  instances: { instanceId: string; version: string; latestModelApplied: boolean }[];
}

async function simulatorState(): Promise<SimScaleSet[]> {
  const res = await adminRequest(stack.simulator, "GET", "/instances");
  return (res.json as { value: SimScaleSet[] }).value;
}

interface Answer {
  source: string;
  scaleSets: {
    id: string;
    name: string;
    model: { version?: string; pinned: boolean; imageReference: unknown };
    instances: {
      total: number;
      byVersion: Record<string, number>;
      notOnLatestModel: number;
      notOnLatestModelIds: string[];
    };
    upgradePolicy: string;
    location: string;
    tags: Record<string, string>;
  }[];
  images: unknown[];
  findings: { code: string; scaleSetId?: string }[];
  calls: { resourceManager: number; resourceGraph: number };
}

async function inventory(
  query: string,
  status = 200,
): Promise<Answer & { code?: string; retryAfterSeconds?: number }> {
  const res = await stack.app.inject({ url: `/v1/inventory${query}`, headers: stack.auth("viewer") });
  expect(res.statusCode, res.body).toBe(status);
  return res.json();
}

const sub = `?subscriptionId=${demoSubscriptionId}`;
const byId = <T extends { id: string }>(items: T[]) => [...items].sort((a, b) => (a.id < b.id ? -1 : 1));
const byCode = (findings: Answer["findings"]) =>
  [...findings].sort((a, b) => `${a.code}${a.scaleSetId}`.localeCompare(`${b.code}${b.scaleSetId}`));

/** The answer against the simulator's state: every scale set, every instance's version and drift. */
function expectAgrees(answer: Answer, truth: SimScaleSet[]) {
  expect(answer.scaleSets.map((s) => s.id.toLowerCase()).sort()).toEqual(
    truth.map((s) => s.id.toLowerCase()).sort(),
  );
  for (const ss of truth) {
    const got = answer.scaleSets.find((s) => s.id.toLowerCase() === ss.id.toLowerCase());
    const byVersion: Record<string, number> = {};
    for (const i of ss.instances) byVersion[i.version] = (byVersion[i.version] ?? 0) + 1;
    const drifted = ss.instances.filter((i) => !i.latestModelApplied).map((i) => i.instanceId);
    expect(got?.instances, `${answer.source} ${ss.name}`).toEqual({
      total: ss.instances.length,
      byVersion,
      notOnLatestModel: drifted.length,
      notOnLatestModelIds: drifted,
    });
  }
}

beforeAll(async () => {
  stack = await startApiStack({
    scenario: "config/simulator/inventory.yaml",
    simulator: { resourceGraphPageSize: PAGE, resourceGraphQuota: roomy },
    patch: (config) => ({
      ...config,
      inventory: { ...config.inventory, cacheSeconds: 3600, resourceGraph: { maxQuotaWaitSeconds: 3 } },
    }),
  });
  // The scenario's foreign model write on app-drift fires one simulated second in.
  const deadline = Date.now() + 10_000;
  while (!(await simulatorState()).some((ss) => ss.instances.some((i) => !i.latestModelApplied))) {
    if (Date.now() > deadline) throw new Error("the scenario's model write never fired");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

beforeEach(() => {
  stack.simulator.setResourceGraphQuota(roomy);
});

describe("both sources", () => {
  // Mutations: the Resource Graph reader stops after the first page, drops latestModelApplied or the
  // exact version, keys instances to the wrong scale set, or the answer's source is hard-coded -> fails.
  it("agree exactly with the simulator's state and with each other, drift and the unpinned model included", async () => {
    const arm = await inventory(`${sub}&refresh=true&source=arm`);
    const graph = await inventory(`${sub}&refresh=true&source=resourceGraph`);
    const truth = await simulatorState();
    expect(arm.source).toBe("arm");
    expect(graph.source).toBe("resourceGraph");
    expectAgrees(arm, truth);
    expectAgrees(graph, truth);

    // The two answers are the same inventory: models, policies, images, findings.
    const shape = (a: Answer) =>
      byId(a.scaleSets).map(({ id, name, model, upgradePolicy, location, tags, instances }) => ({
        id: id.toLowerCase(),
        name,
        model,
        upgradePolicy,
        location,
        tags,
        instances,
      }));
    expect(shape(graph)).toEqual(shape(arm));
    expect(graph.images).toEqual(arm.images);
    expect(byCode(graph.findings)).toEqual(byCode(arm.findings));

    const drift = graph.scaleSets.find((s) => s.name === "app-drift");
    expect(drift?.model).toMatchObject({ version: "2.1.0", pinned: true });
    expect(drift?.instances).toMatchObject({ byVersion: { "2.0.0": 4 }, notOnLatestModel: 4 });
    expect(graph.scaleSets.find((s) => s.name === "app-unpinned")?.model.pinned).toBe(false);
    const codes = graph.findings.map((f) => [f.code, f.scaleSetId?.split("/").pop()]);
    expect(codes).toContainEqual(["unpinnedModel", "app-unpinned"]);
    expect(codes).toContainEqual(["instancesNotOnLatestModel", "app-drift"]);
  });
});

describe("the CLI", () => {
  // Mutation: drop --source (or its passing to the API) -> the table says it came from arm.
  it("reads from the source --source names and says which", async () => {
    const env = {
      CANARYD_URL: urlOf(stack.app.server),
      CANARYD_TOKEN: stack.auth("viewer").authorization.slice(7),
    };
    const args = ["inventory", "--subscription", demoSubscriptionId, "--refresh"];
    const graph = await runCli([...args, "--source", "resourceGraph"], env);
    expect(graph.code, graph.stderr).toBe(0);
    expect(graph.stdout).toMatch(/app-drift\s+westeurope\s+Manual\s+2\.1\.0\s+4\s+2\.0\.0×4\s+4/);
    expect(graph.stdout).toMatch(/\nsource: resourceGraph$/);
    expect((await runCli(args, env)).stdout).toMatch(/\nsource: arm$/);
    expect((await runCli([...args, "--source", "graph"], env)).code).toBe(2);
  });
});

describe("Resource Graph", () => {
  // Mutation: page without $skipToken (one call per table) or ask each scale set for its instances -> fails.
  it("pages with $skipToken: one call per page of each table, gallery versions from Resource Manager", async () => {
    stack.simulator.clearRequestLog();
    const graph = await inventory(`${sub}&refresh=true&source=resourceGraph`);
    const truth = await simulatorState();
    const instances = truth.reduce((n, ss) => n + ss.instances.length, 0);
    const pages = Math.ceil(truth.length / PAGE) + Math.ceil(instances / PAGE);
    expect(pages).toBeGreaterThan(4);
    expect(graph.calls.resourceGraph).toBe(pages);
    expect(stack.simulator.requestLog({ operation: "resourceGraph.resources" })).toHaveLength(pages);
    // No Resource Manager listing: only the gallery version reads.
    expect(stack.simulator.requestLog({ operation: "virtualMachineScaleSetVMs.list" })).toHaveLength(0);
    expect(graph.calls.resourceManager).toBe(graph.images.length);
  });

  // Mutation: one query pair per subscription instead of one for the batch -> twice the calls.
  it("reads several subscriptions in one query when inventory.source is resourceGraph", async () => {
    const other = "00000000-0000-0000-0000-0000000000aa";
    const service = new InventoryService({
      ...stack.inventory.deps,
      config: {
        ...stack.config,
        inventory: {
          ...stack.config.inventory,
          source: "resourceGraph",
          scopes: [{ subscriptionId: demoSubscriptionId }, { subscriptionId: other }],
        },
      },
    });
    const before = stack.resourceGraphReader.calls();
    const answer = await service.inventory({ refresh: true });
    const truth = await simulatorState();
    expect(answer.source).toBe("resourceGraph");
    expectAgrees(answer as unknown as Answer, truth);
    const instances = truth.reduce((n, ss) => n + ss.instances.length, 0);
    expect(stack.resourceGraphReader.calls() - before).toBe(
      Math.ceil(truth.length / PAGE) + Math.ceil(instances / PAGE),
    );
    expect(answer.scopes.map((s) => s.subscriptionId)).toEqual([demoSubscriptionId, other]);
  });

  // Mutation: ignore x-ms-user-quota-remaining (send anyway and meet 429s) -> the log shows 429s.
  it("waits out a spent quota that resets within inventory.resourceGraph.maxQuotaWaitSeconds, without a 429", async () => {
    stack.simulator.setResourceGraphQuota({ limit: 3, windowSeconds: 1 });
    stack.simulator.clearRequestLog();
    const started = Date.now();
    const graph = await inventory(`${sub}&refresh=true&source=resourceGraph`);
    expectAgrees(graph, await simulatorState());
    // At least eight pages at three a window: the reader waited for two resets.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    const log = stack.simulator.requestLog({ operation: "resourceGraph.resources" });
    expect(log.length).toBe(graph.calls.resourceGraph);
    expect(log.filter((e) => e.status === 429)).toEqual([]);
  }, 20_000);

  // Mutation: give up on the first 429 instead of waiting for the reset it names -> fails.
  it("after a 429 (the quota spent elsewhere), waits for the reset it names and carries on", async () => {
    stack.simulator.clearRequestLog();
    stack.simulator.setResourceGraphQuota({ limit: 0, windowSeconds: 2 });
    // The quota comes back a second later (a new window): the reader must have waited for it.
    const timer = setTimeout(() => stack.simulator.setResourceGraphQuota(roomy), 1000);
    let graph: Answer;
    try {
      graph = await inventory(`${sub}&refresh=true&source=resourceGraph`);
    } finally {
      clearTimeout(timer);
    }
    expectAgrees(graph, await simulatorState());
    const statuses = stack.simulator
      .requestLog({ operation: "resourceGraph.resources" })
      .map((e) => e.status);
    expect(statuses[0]).toBe(429);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(4);
  }, 20_000);

  // Mutation: wait however long the reset is, or fail with a generic error -> fails (timeout or code).
  it("refuses with 503 INVENTORY_QUOTA_EXHAUSTED when the quota resets later than the bound", async () => {
    stack.simulator.setResourceGraphQuota({ limit: 1, windowSeconds: 600 });
    const started = Date.now();
    const refused = await inventory(`${sub}&refresh=true&source=resourceGraph`, 503);
    expect(refused.code).toBe("INVENTORY_QUOTA_EXHAUSTED");
    expect(refused.retryAfterSeconds).toBeGreaterThan(590);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
