/**
 * Contract: what happens to a scale set besides canaryd's own calls (scale-out, automatic repair,
 * an ARM outage, another actor's model write, etag and If-Match), seen through the real
 * @azure/arm-compute client; plus the request-log filters a test uses to prove "no manualupgrade
 * on X after T".
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RestError } from "@azure/core-rest-pipeline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminRequest, type Harness, RG, startHarness } from "./support.ts";

/** core-lro treats Retry-After: 0 as absent (2 s default), so fast callers set the poll interval. */
const FAST = { updateIntervalInMs: 10 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let h: Harness;
beforeAll(async () => {
  // timeScale 100: an instance boots in 30 ms (demo: 3 simulated s), a model write takes 10 ms.
  h = await startHarness({ timeScale: 100 });
});
afterAll(async () => h.close());

async function listVms(name: string) {
  const vms = [];
  for await (const vm of h.compute.virtualMachineScaleSetVMs.list(RG, name)) vms.push(vm);
  return vms;
}

function imagePatch(version: string) {
  return { virtualMachineProfile: { storageProfile: { imageReference: { id: h.versionId(version) } } } };
}

describe("scale-out", () => {
  it("adds instances with new, higher ids built from the current model; capacity and etag follow", async () => {
    await h.compute.virtualMachineScaleSets.update(RG, "web-b", imagePatch("1.1.0"), FAST);
    const before = await h.compute.virtualMachineScaleSets.get(RG, "web-b");

    const added = h.sim.scaleOut("web-b", 2);

    expect(added.instanceIds).toEqual(["4", "5"]);
    const vms = await listVms("web-b");
    expect(vms.map((vm) => vm.instanceId)).toEqual(["0", "1", "2", "3", "4", "5"]);
    for (const vm of vms.filter((v) => ["4", "5"].includes(v.instanceId ?? ""))) {
      expect(vm.storageProfile?.imageReference?.id).toBe(h.versionId("1.1.0"));
      expect(vm.latestModelApplied).toBe(true);
    }
    // The old instances keep what they ran: the model changed, nobody upgraded them.
    expect(vms.find((v) => v.instanceId === "0")?.storageProfile?.imageReference?.exactVersion).toBe("1.0.0");
    expect(vms.find((v) => v.instanceId === "0")?.latestModelApplied).toBe(false);
    const after = await h.compute.virtualMachineScaleSets.get(RG, "web-b");
    expect(after.sku?.capacity).toBe(6);
    expect(after.etag).not.toBe(before.etag);

    await sleep(100);
    const booted = await h.compute.virtualMachineScaleSetVMs.get(RG, "web-b", "5");
    expect(booted.provisioningState).toBe("Succeeded");
    expect(booted.storageProfile?.imageReference?.exactVersion).toBe("1.1.0");
  });

  it("the admin endpoint scales out too, and refuses a bad count with 400 InvalidParameter", async () => {
    const ok = await adminRequest(h.sim, "POST", "/scalesets/web-c/scaleout", { count: 1 });
    expect(ok).toMatchObject({ status: 200, json: { instanceIds: ["4"], capacity: 5 } });
    const bad = await adminRequest(h.sim, "POST", "/scalesets/web-c/scaleout", { count: 0 });
    expect(bad).toMatchObject({ status: 400, json: { error: { code: "InvalidParameter" } } });
  });
});

describe("automatic repair (Replace)", () => {
  it("deletes the instance and creates one with a new id from the current model; ids are never reused", async () => {
    // web-a has 0, 2, 3, 7, 9: repairing 9 (the highest) must not hand out 8 or 9 again.
    const first = h.sim.repairInstance("web-a", "9");
    expect(first).toMatchObject({ removedInstanceId: "9", instanceId: "10" });
    const second = await adminRequest(h.sim, "POST", "/scalesets/web-a/repair", { instanceId: "10" });
    expect(second).toMatchObject({ status: 200, json: { removedInstanceId: "10", instanceId: "11" } });

    const vms = await listVms("web-a");
    expect(vms.map((vm) => vm.instanceId)).toEqual(["0", "2", "3", "7", "11"]);
    const replacement = vms.find((v) => v.instanceId === "11");
    expect(replacement?.storageProfile?.imageReference?.id).toBe(h.versionId("1.0.0"));
    expect(replacement?.latestModelApplied).toBe(true);
    expect((await h.compute.virtualMachineScaleSets.get(RG, "web-a")).sku?.capacity).toBe(5);
    await expect(h.compute.virtualMachineScaleSetVMs.get(RG, "web-a", "9")).rejects.toMatchObject({
      statusCode: 404,
    });
  });

  it("does not repair a protected instance (409) or an unknown one (404)", () => {
    expect(() => h.sim.repairInstance("web-d", "12")).toThrow(expect.objectContaining({ status: 409 }));
    expect(() => h.sim.repairInstance("web-d", "99")).toThrow(expect.objectContaining({ status: 404 }));
  });
});

describe("Resource Manager outage", () => {
  it("answers 503 ServiceUnavailable with Retry-After; the SDK tries 4 times (1 + 3 retries), then succeeds after", async () => {
    const since = new Date().toISOString();
    // 100 simulated s at time scale 100: 1 s of wall time.
    const outage = h.sim.armOutage({ simulatedSeconds: 100, retryAfterSeconds: 0 });

    const error = (await h.compute.virtualMachineScaleSets
      .get(RG, "web-d")
      .catch((e: unknown) => e)) as RestError;
    expect(error).toMatchObject({ statusCode: 503, code: "ServiceUnavailable" });
    expect(error.response?.headers.get("retry-after")).toBe("0");
    const attempts = h.sim.requestLog({ operation: "virtualMachineScaleSets.get", scaleSet: "web-d", since });
    expect(attempts.map((e) => e.status)).toEqual([503, 503, 503, 503]);
    // Metrics (without `metrics: true`) and admin are not ARM: they keep answering during the outage.
    const [metrics] = await h
      .metrics("westeurope")
      .queryResources(
        [h.scaleSetId("web-a")],
        ["Percentage CPU"],
        "Microsoft.Compute/virtualMachineScaleSets",
        {
          startTime: new Date(Date.now() - 5 * 60_000),
          endTime: new Date(),
          interval: "PT1M",
          aggregation: "average",
        },
      );
    expect(metrics?.getMetricByName("Percentage CPU")?.timeseries?.length).toBeGreaterThan(0);
    expect((await adminRequest(h.sim, "GET", "/faults")).json).toMatchObject({
      value: [{ id: outage.id, kind: "armOutage" }],
    });

    await sleep(1050);
    const ss = await h.compute.virtualMachineScaleSets.get(RG, "web-d");
    expect(ss.name).toBe("web-d");
  });

  it("an outage shorter than the SDK's retries is ridden out by the SDK itself (Retry-After honoured)", async () => {
    const since = new Date().toISOString();
    // 150 simulated s = 1.5 s of wall time; Retry-After 1 s: attempts at ~0 s, ~1 s, ~2 s.
    h.sim.armOutage({ simulatedSeconds: 150, retryAfterSeconds: 1 });
    const started = Date.now();
    const vms = await listVms("web-d");
    expect(vms).toHaveLength(6);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    const statuses = h.sim
      .requestLog({ operation: "virtualMachineScaleSetVMs.list", since })
      .map((e) => e.status);
    expect(statuses).toEqual([503, 503, 200]);
  });
});

describe("another actor's model write, etag and If-Match", () => {
  it("changes the model and the etag, upgrades no instance, and makes an If-Match with the old etag fail with 412", async () => {
    const c = await h.compute.virtualMachineScaleSets.get(RG, "web-c");
    expect(c.etag).toMatch(/^"\d+"$/);
    const written = h.sim.foreignModelWrite("web-c", {
      gallery: "demoGallery",
      image: "web",
      version: "1.3.0",
    });

    const after = await h.compute.virtualMachineScaleSets.get(RG, "web-c");
    expect(after.virtualMachineProfile?.storageProfile?.imageReference?.id).toBe(h.versionId("1.3.0"));
    expect(after.etag).toBe(written.etag);
    expect(after.etag).not.toBe(c.etag);
    const vms = await listVms("web-c");
    expect(vms.every((vm) => vm.storageProfile?.imageReference?.exactVersion === "1.0.0")).toBe(true);
    expect(vms.every((vm) => vm.latestModelApplied === false)).toBe(true);

    await expect(
      h.compute.virtualMachineScaleSets.update(RG, "web-c", imagePatch("1.0.0"), {
        ...FAST,
        ifMatch: c.etag,
      }),
    ).rejects.toMatchObject({ statusCode: 412, code: "PreconditionFailed" });
    // Refused before anything changed.
    const unchanged = await h.compute.virtualMachineScaleSets.get(RG, "web-c");
    expect(unchanged.virtualMachineProfile?.storageProfile?.imageReference?.id).toBe(h.versionId("1.3.0"));
    expect(unchanged.etag).toBe(after.etag);

    const updated = await h.compute.virtualMachineScaleSets.update(RG, "web-c", imagePatch("1.0.0"), {
      ...FAST,
      ifMatch: after.etag,
    });
    expect(updated.virtualMachineProfile?.storageProfile?.imageReference?.id).toBe(h.versionId("1.0.0"));
    expect(updated.etag).not.toBe(after.etag);
  });

  it("PUT honours If-Match and If-None-Match: * on an existing scale set", async () => {
    const ss = await h.compute.virtualMachineScaleSets.get(RG, "web-d");
    await expect(
      h.compute.virtualMachineScaleSets.createOrUpdate(RG, "web-d", ss, { ...FAST, ifMatch: '"stale"' }),
    ).rejects.toMatchObject({ statusCode: 412, code: "PreconditionFailed" });
    await expect(
      h.compute.virtualMachineScaleSets.createOrUpdate(RG, "web-d", ss, { ...FAST, ifNoneMatch: "*" }),
    ).rejects.toMatchObject({ statusCode: 412, code: "PreconditionFailed" });
    const written = await h.compute.virtualMachineScaleSets.createOrUpdate(RG, "web-d", ss, {
      ...FAST,
      ifMatch: ss.etag,
    });
    expect(written.etag).not.toBe(ss.etag);
  });

  it("the admin endpoint writes the model as another actor; an unknown image is 400", async () => {
    const ok = await adminRequest(h.sim, "POST", "/scalesets/web-d/modelwrite", {
      image: { id: h.versionId("1.1.0") },
    });
    expect(ok).toMatchObject({ status: 200, json: { imageReference: { id: h.versionId("1.1.0") } } });
    const bad = await adminRequest(h.sim, "POST", "/scalesets/web-d/modelwrite", {
      image: { gallery: "demoGallery", image: "web", version: "9.9.9" },
    });
    expect(bad).toMatchObject({ status: 400, json: { error: { code: "InvalidParameter" } } });
  });
});

describe("request log", () => {
  it("finds a manualupgrade by scale set and simulated time: method, path, time, operation", async () => {
    const t = h.sim.simulatedMs();
    await h.compute.virtualMachineScaleSets.updateInstances(RG, "web-b", { instanceIds: ["0"] }, FAST);

    const upgrades = h.sim.requestLog({
      operation: "virtualMachineScaleSets.updateInstances",
      scaleSet: "web-b",
      sinceSimulatedMs: t,
    });
    expect(upgrades).toHaveLength(1);
    expect(upgrades[0]).toMatchObject({ method: "POST", status: 202 });
    expect(upgrades[0]?.path).toMatch(/\/virtualMachineScaleSets\/web-b\/manualupgrade$/i);
    expect(upgrades[0]?.simulatedMs).toBeGreaterThanOrEqual(t);
    // Another scale set, or a later time, finds none.
    expect(
      h.sim.requestLog({
        operation: "virtualMachineScaleSets.updateInstances",
        scaleSet: "web-a",
        sinceSimulatedMs: t,
      }),
    ).toEqual([]);
    expect(
      h.sim.requestLog({ scaleSet: "web-b", method: "POST", sinceSimulatedMs: h.sim.simulatedMs() + 1 }),
    ).toEqual([]);
    const overHttp = await adminRequest(
      h.sim,
      "GET",
      `/requests?operation=virtualMachineScaleSets.updateInstances&scaleSet=web-b&sinceSimulatedMs=${Math.floor(t)}`,
    );
    expect((overHttp.json as { value: unknown[] }).value).toHaveLength(1);
  });
});

describe("state file", () => {
  it("a restart keeps the etag, the replacement instances and the model another actor wrote", async () => {
    const dir = await mkdtemp(join(tmpdir(), "canaryd-sim-ops-"));
    const stateFile = join(dir, "state.json");
    try {
      const first = await startHarness({ stateFile, certDir: dir });
      first.sim.repairInstance("web-d", "10");
      first.sim.scaleOut("web-d", 1);
      const etag = first.sim.foreignModelWrite("web-d", { id: first.versionId("1.1.0") }).etag;
      await first.sim.close();

      const second = await startHarness({ stateFile, certDir: dir });
      const ss = await second.compute.virtualMachineScaleSets.get(RG, "web-d");
      expect(ss.etag).toBe(etag);
      expect(ss.virtualMachineProfile?.storageProfile?.imageReference?.id).toBe(second.versionId("1.1.0"));
      const ids = [];
      for await (const vm of second.compute.virtualMachineScaleSetVMs.list(RG, "web-d"))
        ids.push(vm.instanceId);
      expect(ids).toEqual(["1", "4", "5", "6", "12", "13", "14"]);
      expect(second.sim.scaleOut("web-d", 1).instanceIds).toEqual(["15"]);
      await second.sim.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
