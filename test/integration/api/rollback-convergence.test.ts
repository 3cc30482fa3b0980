/**
 * Rollback as convergence, pause, and the model guard, end to end: the API over the real engine,
 * the real Azure SDK clients and the simulator (demo scenario, time compressed), with real Redis.
 * Each test gets a fresh simulator and engine; the simulator's request log is the witness of
 * what canaryd asked Azure to do.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  closeStacks,
  phaseIs,
  post,
  type Stack,
  scaleSet,
  stack,
  until,
  version,
  view,
} from "../../support/api-stack.ts";

const upgrades = "virtualMachineScaleSets.updateInstances";

afterEach(closeStacks);

function spec(v: string, names: string[], strategy: Record<string, unknown> = {}) {
  return {
    name: `web-${v}`,
    image: { galleryImageVersionId: version(v) },
    waves: [{ name: "only", scaleSets: names.map(scaleSet) }],
    strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 600, ...strategy },
    // Instance health only: the tests are about the rollback loop, not about what gates measure.
    gates: [{ kind: "instanceHealth" }],
  };
}

const versions = (s: Stack, name: string) => s.sim.instanceImages(scaleSet(name)).map((i) => i.version);
const modelVersion = async (s: Stack, name: string) =>
  (await s.azure.compute.readModelImage(scaleSet(name))).imageReference?.id?.split("/").pop();

describe("rollback converges on every instance that exists", () => {
  it("takes back instances that appeared during the bake (scale-out), not only the ones it upgraded", async () => {
    const s = await stack({ timeScale: 60 });
    const start = await post(s, "/v1/rollouts", spec("1.1.0", ["web-a"]));
    expect(start.statusCode).toBe(201);
    const { id } = start.json();
    await phaseIs(s, id, ["baking"]);
    const before = s.sim.instanceImages(scaleSet("web-a")).length;
    const { instanceIds: appeared } = s.sim.scaleOut("web-a", 2);
    // Created from the model canaryd wrote: they run the new version.
    await until("new instances booted", async () =>
      appeared.every(
        (i) => s.sim.instanceImages(scaleSet("web-a")).find((x) => x.instanceId === i)?.version === "1.1.0",
      )
        ? true
        : undefined,
    );

    const rollback = await post(s, `/v1/rollouts/${id}/rollback`, { reason: "bad canary" });
    expect(rollback.statusCode).toBe(200);
    const done = await phaseIs(s, id, ["rolledBack", "failed"]);

    expect(done.phase).toBe("rolledBack");
    expect(await modelVersion(s, "web-a")).toBe("1.0.0");
    expect(s.sim.instanceImages(scaleSet("web-a"))).toHaveLength(before + 2);
    expect(versions(s, "web-a")).toEqual(versions(s, "web-a").map(() => "1.0.0"));
    const upgradedBack = done.timeline
      .filter((e: { type: string }) => e.type === "rollback.upgrading")
      .flatMap((e: { data: { instanceIds: string[] } }) => e.data.instanceIds);
    expect(upgradedBack).toEqual(expect.arrayContaining(appeared));
  });

  it("rides out a Resource Manager outage of 150 s that starts right after the rollback: rolledBack, never failed", async () => {
    // One job attempt per effect, so the rollback's own loop (not BullMQ) is what persists.
    const s = await stack({ timeScale: 10, engine: { effectAttempts: 1, rollbackRetrySeconds: 5 } });
    const { id } = (await post(s, "/v1/rollouts", spec("1.1.0", ["web-a"], { bakeSeconds: 60 }))).json();
    await phaseIs(s, id, ["baking"]);
    expect((await post(s, `/v1/rollouts/${id}/rollback`, { reason: "outage drill" })).statusCode).toBe(200);
    s.sim.armOutage({ simulatedSeconds: 150, retryAfterSeconds: 1 });

    const done = await phaseIs(s, id, ["rolledBack", "failed"]);
    expect(done.phase).toBe("rolledBack");
    expect(done.timeline.some((e: { type: string }) => e.type === "rollback.retry")).toBe(true);
    expect(s.sim.requestLog().some((e) => e.status === 503)).toBe(true);
    expect(versions(s, "web-a")).toEqual(versions(s, "web-a").map(() => "1.0.0"));
    expect(await modelVersion(s, "web-a")).toBe("1.0.0");
  }, 120_000);
});

describe("a rollback that cannot converge", () => {
  async function failedRollout(s: Stack) {
    const { id } = (await post(s, "/v1/rollouts", spec("1.1.0", ["web-a"], { bakeSeconds: 60 }))).json();
    await phaseIs(s, id, ["baking"]);
    const outage = s.sim.armOutage({ simulatedSeconds: 36_000, retryAfterSeconds: 0 });
    expect((await post(s, `/v1/rollouts/${id}/rollback`, { reason: "drill" })).statusCode).toBe(200);
    const failed = await phaseIs(s, id, ["failed", "rolledBack"]);
    expect(failed.phase).toBe("failed");
    expect(failed.reason).toMatch(/rollbackPersistSeconds/);
    return { id, outage };
  }

  it("ends failed and keeps its claim; a new rollout gets 409 naming it; rollback from failed converges once Azure is back", async () => {
    const s = await stack({ timeScale: 60, engine: { effectAttempts: 1, rollbackPersistSeconds: 60 } });
    const { id, outage } = await failedRollout(s);

    const blocked = await post(s, "/v1/rollouts", spec("1.2.0", ["web-a"]));
    expect(blocked.statusCode).toBe(409);
    expect(blocked.json()).toMatchObject({ code: "SCALE_SET_BUSY", holderId: id });

    s.sim.removeFault(outage.id);
    expect((await post(s, `/v1/rollouts/${id}/rollback`, { reason: "Azure is back" })).statusCode).toBe(200);
    const done = await phaseIs(s, id, ["rolledBack", "failed"]);
    expect(done.phase).toBe("rolledBack");
    expect(versions(s, "web-a")).toEqual(versions(s, "web-a").map(() => "1.0.0"));
    expect((await post(s, "/v1/rollouts", spec("1.2.0", ["web-a"]))).statusCode).toBe(201);
  }, 120_000);

  it("release hands the scale set back as it is, with the reason in the timeline", async () => {
    const s = await stack({ timeScale: 60, engine: { effectAttempts: 1, rollbackPersistSeconds: 60 } });
    const { id, outage } = await failedRollout(s);
    s.sim.removeFault(outage.id);

    const noReason = await post(s, `/v1/rollouts/${id}/release`, {});
    expect(noReason.statusCode).toBe(400);
    const released = await post(s, `/v1/rollouts/${id}/release`, { reason: "fixed by hand, INC-42" });
    expect(released.statusCode).toBe(200);
    const after = await view(s, id);
    expect(after.phase).toBe("failed");
    expect(after.timeline.find((e: { type: string }) => e.type === "rollout.released")?.message).toContain(
      "fixed by hand, INC-42",
    );
    expect((await post(s, `/v1/rollouts/${id}/release`, { reason: "again" })).statusCode).toBe(409);
    expect((await post(s, "/v1/rollouts", spec("1.2.0", ["web-a"]))).statusCode).toBe(201);
  }, 120_000);
});

describe("the model guard", () => {
  it("issues no further manual upgrade on a scale set whose model someone else changed during the bake", async () => {
    const s = await stack({ timeScale: 60 });
    const { id } = (await post(s, "/v1/rollouts", spec("1.1.0", ["web-a"], { bakeSeconds: 120 }))).json();
    await phaseIs(s, id, ["baking"]);
    s.sim.foreignModelWrite("web-a", { gallery: "demoGallery", image: "web", version: "1.5.0" });
    const writtenAt = s.sim.simulatedMs();

    const done = await phaseIs(s, id, ["failed", "rolledBack", "completed"]);
    expect(done.phase).toBe("failed");
    expect(done.reason).toMatch(/someone else/);
    expect(done.reason).toContain("1.5.0");
    expect(s.sim.requestLog({ operation: upgrades, scaleSet: "web-a", sinceSimulatedMs: writtenAt })).toEqual(
      [],
    );
    expect(await modelVersion(s, "web-a")).toBe("1.5.0");
  });
});

describe("pause", () => {
  it("arriving while a batch is upgrading: no new upgrade starts until resume", async () => {
    const s = await stack({ timeScale: 20 });
    const { id } = (await post(s, "/v1/rollouts", spec("1.1.0", ["web-a"], { bakeSeconds: 0 }))).json();
    await until("the canary's manual upgrade", async () =>
      s.sim.requestLog({ operation: upgrades, scaleSet: "web-a" }).length > 0 ? true : undefined,
    );
    expect((await post(s, `/v1/rollouts/${id}/pause`, { reason: "change freeze" })).statusCode).toBe(200);
    const pausedAt = s.sim.simulatedMs();
    // Long enough for the canary to come back, its gates to pass and, without the pause, the next batch to start.
    await new Promise((r) => setTimeout(r, 6_000));
    expect((await view(s, id)).phase).toBe("paused");
    expect(s.sim.requestLog({ operation: upgrades, scaleSet: "web-a", sinceSimulatedMs: pausedAt })).toEqual(
      [],
    );

    const resumedAt = s.sim.simulatedMs();
    expect((await post(s, `/v1/rollouts/${id}/resume`, {})).statusCode).toBe(200);
    const done = await phaseIs(s, id, ["completed", "rolledBack", "failed"]);
    expect(done.phase).toBe("completed");
    expect(
      s.sim.requestLog({ operation: upgrades, scaleSet: "web-a", sinceSimulatedMs: resumedAt }).length,
    ).toBeGreaterThan(0);
  }, 90_000);
});
