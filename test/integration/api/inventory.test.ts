/**
 * GET /v1/inventory over the real SDK against the simulator's inventory scenario: the answer
 * agrees exactly with the simulator's own state (every scale set, every instance's version and
 * whether it runs the latest model), names the unpinned model and the drift, scopes to a resource
 * group, serves from its cache until ?refresh=true, and the CLI prints it as a table.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryService } from "../../../src/inventory/inventory-service.ts";
import { runCli, urlOf } from "../../unit/cli/cli-harness.ts";
import { adminRequest } from "../simulator/support.ts";
import { type ApiStack, demoSubscriptionId, startApiStack } from "./api-stack.ts";

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

async function inventory(query: string) {
  const res = await stack.app.inject({ url: `/v1/inventory${query}`, headers: stack.auth("viewer") });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const sub = `?subscriptionId=${demoSubscriptionId}`;
const answerFindingCodes = (answer: { findings: { code: string }[] }) => answer.findings.map((f) => f.code);

beforeAll(async () => {
  stack = await startApiStack({
    scenario: "config/simulator/inventory.yaml",
    patch: (config) => ({
      ...config,
      inventory: { ...config.inventory, cacheSeconds: 3600 },
      // 2.0.0 retires 2027-06-30: within ten years, so preflight and the inventory warn about it.
      policy: {
        eolWarningDays: 3650,
        requireApproval: { scaleSets: [], tags: { environment: "production" } },
      },
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

describe("the inventory from Resource Manager", () => {
  it("agrees exactly with the simulator's state: every scale set, every instance's version, drift", async () => {
    const answer = await inventory(`${sub}&refresh=true`);
    const truth = await simulatorState();
    expect(answer.source).toBe("arm");
    expect(answer.scaleSets.map((s: { id: string }) => s.id.toLowerCase()).sort()).toEqual(
      truth.map((s) => s.id.toLowerCase()).sort(),
    );
    for (const ss of truth) {
      const got = answer.scaleSets.find((s: { id: string }) => s.id.toLowerCase() === ss.id.toLowerCase());
      const byVersion: Record<string, number> = {};
      for (const i of ss.instances) byVersion[i.version] = (byVersion[i.version] ?? 0) + 1;
      const drifted = ss.instances.filter((i) => !i.latestModelApplied).map((i) => i.instanceId);
      expect(got.instances, ss.name).toEqual({
        total: ss.instances.length,
        byVersion,
        notOnLatestModel: drifted.length,
        notOnLatestModelIds: drifted,
      });
    }
    const drift = answer.scaleSets.find((s: { name: string }) => s.name === "app-drift");
    expect(drift.model).toMatchObject({ version: "2.1.0", pinned: true });
    expect(drift.instances).toMatchObject({ byVersion: { "2.0.0": 4 }, notOnLatestModel: 4 });
    const unpinned = answer.scaleSets.find((s: { name: string }) => s.name === "app-unpinned");
    expect(unpinned.model.pinned).toBe(false);

    const codes = answer.findings.map((f: { code: string; scaleSetId?: string }) => [
      f.code,
      f.scaleSetId?.split("/").pop(),
    ]);
    expect(codes).toContainEqual(["unpinnedModel", "app-unpinned"]);
    expect(codes).toContainEqual(["instancesNotOnLatestModel", "app-drift"]);
    expect(codes.filter(([code]: string[]) => code === "unpinnedModel")).toHaveLength(1);
    expect(codes.filter(([code]: string[]) => code === "instancesNotOnLatestModel")).toHaveLength(1);

    // Images: counts per version agree with the instances; 2.0.0 carries its end of life.
    const v200 = answer.images.find((i: { version: string }) => i.version === "2.0.0");
    const all = truth.flatMap((s) => s.instances);
    expect(v200).toMatchObject({
      instances: all.filter((i) => i.version === "2.0.0").length,
      scaleSets: truth.filter((s) => s.instances.some((i) => i.version === "2.0.0")).length,
      endOfLifeDate: "2027-06-30T00:00:00.000Z",
      excludeFromLatest: false,
    });
    expect(typeof v200.retiresInDays).toBe("number");
    // No approved-version catalog: nothing is called approved or unapproved.
    expect(v200.approved).toBeUndefined();
    expect(codes.some(([code]: string[]) => code === "unapprovedInProduction")).toBe(false);
  });

  it("reads one resource group when asked", async () => {
    const answer = await inventory(`${sub}&resourceGroup=rg-staging`);
    expect(answer.scaleSets.map((s: { name: string }) => s.name)).toEqual(["app-staging"]);
  });

  it("answers from its cache until refresh=true, and counts the ARM calls of a read", async () => {
    const first = await inventory(`${sub}&refresh=true`);
    expect(first.scopes[0]).toMatchObject({ cached: false });
    // One list of scale sets, one instance list per scale set, one read per gallery version.
    expect(first.scopes[0].armCalls).toBe(1 + first.scaleSets.length + first.images.length);
    const callsBefore = stack.inventoryReader.armCalls();
    stack.simulator.scaleOut("app-pinned", 1);
    const cached = await inventory(sub);
    expect(stack.inventoryReader.armCalls()).toBe(callsBefore);
    expect(cached.scopes[0]).toMatchObject({ cached: true, armCalls: 0 });
    const pinnedCached = cached.scaleSets.find((s: { name: string }) => s.name === "app-pinned");
    expect(pinnedCached.instances.total).toBe(3);
    const fresh = await inventory(`${sub}&refresh=true`);
    expect(stack.inventoryReader.armCalls()).toBeGreaterThan(callsBefore);
    expect(fresh.scaleSets.find((s: { name: string }) => s.name === "app-pinned").instances.total).toBe(4);
  });

  it("reads the configured inventory.scopes when the request names none", async () => {
    const configured = new InventoryService({
      reader: stack.inventoryReader,
      rollouts: stack.engine.service,
      config: {
        ...stack.config,
        inventory: {
          ...stack.config.inventory,
          scopes: [
            { subscriptionId: demoSubscriptionId, resourceGroup: "rg-staging" },
            { subscriptionId: demoSubscriptionId, resourceGroup: "rg-prod" },
          ],
        },
      },
      now: () => new Date(),
    });
    const answer = await configured.inventory({});
    expect(answer.scopes.map((s) => s.resourceGroup)).toEqual(["rg-staging", "rg-prod"]);
    expect(answer.scaleSets.map((s) => s.name).sort()).toEqual([
      "app-drift",
      "app-pinned",
      "app-staging",
      "app-unpinned",
    ]);
  });

  it("refuses a request without a scope when none is configured, and a resource group alone", async () => {
    const none = await stack.app.inject({ url: "/v1/inventory", headers: stack.auth("viewer") });
    expect(none.statusCode).toBe(400);
    expect(none.json().code).toBe("INVENTORY_SCOPE_MISSING");
    const rgOnly = await stack.app.inject({
      url: "/v1/inventory?resourceGroup=rg-prod",
      headers: stack.auth("viewer"),
    });
    expect(rgOnly.json().code).toBe("INVENTORY_SCOPE_INVALID");
  });

  it("warns at preflight (the plan and the timeline) about a version within policy.eolWarningDays of its end of life", async () => {
    const spec = (version: string) => ({
      name: `app-staging-${version}`,
      image: {
        galleryImageVersionId: `/subscriptions/${demoSubscriptionId}/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/fleetGallery/images/app/versions/${version}`,
      },
      waves: [
        {
          name: "only",
          scaleSets: [
            `/subscriptions/${demoSubscriptionId}/resourceGroups/rg-staging/providers/Microsoft.Compute/virtualMachineScaleSets/app-staging`,
          ],
        },
      ],
      strategy: { bakeSeconds: 0, batchPercent: 100 },
    });
    const plan = async (version: string) =>
      (
        await stack.app.inject({
          method: "POST",
          url: "/v1/rollouts?dryRun=true",
          headers: stack.auth("deployer"),
          payload: spec(version),
        })
      ).json();
    const near = await plan("2.0.0");
    expect(near).toMatchObject({ wouldStart: true, warnings: [{ code: "imageEndOfLifeSoon" }] });
    expect(near.warnings[0].message).toContain("2027-06-30");
    expect((await plan("2.1.0")).warnings).toBeUndefined();
    const started = await stack.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: stack.auth("deployer"),
      payload: spec("2.0.0"),
    });
    const done = await stack.waitTerminal(started.json().id);
    const timeline = await stack.engine.service.timeline(done.id);
    expect(timeline.find((e) => e.type === "preflight.notice")).toMatchObject({
      data: { code: "imageEndOfLifeSoon" },
    });
    expect(answerFindingCodes(await inventory(`${sub}&refresh=true`))).toContain("imageEndOfLifeSoon");
  });

  it("prints a table from the CLI, and JSON with --json", async () => {
    const env = {
      CANARYD_URL: urlOf(stack.app.server),
      CANARYD_TOKEN: stack.auth("viewer").authorization.slice(7),
    };
    const run = await runCli(["inventory", "--subscription", demoSubscriptionId], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^SCALE SET\s+LOCATION/);
    expect(run.stdout).toMatch(/app-unpinned\s+westeurope\s+Manual\s+UNPINNED/);
    expect(run.stdout).toMatch(/app-drift\s+westeurope\s+Manual\s+2\.1\.0\s+4\s+2\.0\.0×4\s+4/);
    expect(run.stdout).toContain("WARNING unpinnedModel");
    const json = await runCli(
      ["inventory", "--subscription", demoSubscriptionId, "--resource-group", "rg-staging", "--json"],
      env,
    );
    expect(JSON.parse(json.stdout).scaleSets).toHaveLength(1);
    const usage = await runCli(["inventory", "--resource-group", "rg-staging"], env);
    expect(usage.code).toBe(2);
  });
});
