/**
 * Change windows and the emergency stop, end to end: the API over the real engine, the real Azure
 * SDK clients and the simulator (demo scenario, time compressed 60x; the engine's clock and the
 * windows run on the same compressed time), with real Redis. A deny window that matches only the
 * second wave's scale sets closes before wave 2: the rollout waits in `waitingForWindow` with
 * `nextOpenAt`, then goes on when the window opens, or when on-call skips it; a rollback during
 * the closed window proceeds. The emergency stop pauses every active rollout and refuses a start
 * until cleared; everything lands in the timelines.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  closeStacks,
  phaseIs,
  post,
  scaleSet,
  stack,
  until,
  version,
  view,
} from "../../support/api-stack.ts";
import { runCli, urlOf, writeTemp } from "../../unit/cli/cli-harness.ts";

afterEach(closeStacks);

interface Entry {
  type: string;
  actor: string;
  message: string;
  data?: Record<string, unknown>;
}

function spec(v: string, waves: string[][], strategy: Record<string, unknown> = {}) {
  return {
    name: `web-${v}`,
    image: { galleryImageVersionId: version(v) },
    waves: waves.map((names, i) => ({ name: `wave-${i + 1}`, scaleSets: names.map(scaleSet) })),
    strategy: { canary: { instances: 1 }, batchPercent: 100, bakeSeconds: 60, ...strategy },
    gates: [{ kind: "instanceHealth" }],
  };
}

/** A deny window on `names` that started a second ago (UTC) and lasts `seconds` of compressed time. */
function denyNow(names: string[], seconds: number) {
  const d = new Date(Date.now() - 1000);
  const schedule = `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} ${d.getUTCDate()} ${d.getUTCMonth() + 1} *`;
  return {
    name: "wave-2-freeze",
    kind: "deny" as const,
    schedule,
    durationSeconds: seconds,
    timeZone: "UTC",
    match: { labels: {}, scaleSets: names.map(scaleSet) },
  };
}

const types = (timeline: Entry[]) => timeline.map((e) => e.type);
const started = (timeline: Entry[], name: string) =>
  timeline.some((e) => e.type === "scaleSet.started" && e.data?.scaleSetId === scaleSet(name));

describe("a closed change window before wave 2", { timeout: 180_000 }, () => {
  it("waits in waitingForWindow with nextOpenAt, and goes on by itself when the window opens", async () => {
    // 1800 compressed seconds = 30 s of the test: longer than wave 1 takes, short enough to wait out.
    const s = await stack({ timeScale: 60, windows: [denyNow(["web-b"], 1800)] });
    const { id } = (await post(s, "/v1/rollouts", spec("1.1.0", [["web-a"], ["web-b"]]))).json();

    const waiting = await phaseIs(s, id, ["waitingForWindow", "completed", "rolledBack", "failed"], 60_000);
    // Mutation: the gate not called before a wave -> wave 2 starts at once -> never waitingForWindow.
    expect(waiting.phase).toBe("waitingForWindow");
    expect(waiting.window).toMatchObject({ wave: "wave-2", status: "closed" });
    expect(Date.parse(waiting.window.nextOpenAt)).toBeGreaterThan(Date.now());
    // Never mid-wave: wave 1 completed before the check; nothing of wave 2 started.
    expect(types(waiting.timeline)).toContain("wave.completed");
    expect(started(waiting.timeline, "web-b")).toBe(false);
    const closed = waiting.timeline.find((e: Entry) => e.type === "window.closed");
    expect(closed?.data).toMatchObject({
      wave: "wave-2",
      closedBy: [{ kind: "deny", name: "wave-2-freeze" }],
    });
    expect(s.sim.instanceImages(scaleSet("web-b")).every((i) => i.version === "1.0.0")).toBe(true);

    // Mutation: no re-check timer after a closed answer -> stays waitingForWindow -> times out.
    const done = await phaseIs(s, id, ["completed", "rolledBack", "failed"], 90_000);
    expect(done.phase).toBe("completed");
    expect(types(done.timeline)).toEqual(expect.arrayContaining(["window.open"]));
    expect(s.sim.instanceImages(scaleSet("web-b")).every((i) => i.version === "1.1.0")).toBe(true);
  });

  it("skip-window (reason required) starts the wave, recorded with actor and reason; a rollback during a closed window proceeds", async () => {
    const s = await stack({ timeScale: 60, windows: [denyNow(["web-b", "web-d"], 86_400)] });
    const skipped = (await post(s, "/v1/rollouts", spec("1.1.0", [["web-a"], ["web-b"]]))).json().id;
    const rolledBack = (await post(s, "/v1/rollouts", spec("1.1.0", [["web-c"], ["web-d"]]))).json().id;
    for (const id of [skipped, rolledBack]) {
      expect((await phaseIs(s, id, ["waitingForWindow", "completed", "failed"], 60_000)).phase).toBe(
        "waitingForWindow",
      );
    }

    // Mutation: the reason made optional -> 200 -> fails.
    expect((await post(s, `/v1/rollouts/${skipped}/skip-window`, {})).statusCode).toBe(400);
    const skip = await post(s, `/v1/rollouts/${skipped}/skip-window`, { reason: "hotfix for INC-7" });
    expect(skip.statusCode, skip.body).toBe(200);
    // Mutation: no rollback transition out of waitingForWindow -> 409 -> fails.
    const rollback = await post(s, `/v1/rollouts/${rolledBack}/rollback`, { reason: "bad canary" });
    expect(rollback.statusCode, rollback.body).toBe(200);

    const done = await phaseIs(s, skipped, ["completed", "rolledBack", "failed"], 90_000);
    expect(done.phase).toBe("completed");
    const entry = done.timeline.find((e: Entry) => e.type === "window.skipped");
    // Mutation: skipWindow notes without the actor -> fails.
    expect(entry).toMatchObject({ actor: "anonymous", data: { reason: "hotfix for INC-7", wave: "wave-2" } });
    // The release record keeps it among the people's actions.
    // Mutation: window.skipped missing from the record's actionTypes -> fails.
    const record = (await s.app.inject({ url: `/v1/rollouts/${skipped}/record` })).json();
    expect(record.actions).toContainEqual(
      expect.objectContaining({ action: "skipWindow", actor: "anonymous", reason: "hotfix for INC-7" }),
    );
    expect(done.window).toMatchObject({
      status: "skipped",
      skippedBy: { actor: "anonymous", reason: "hotfix for INC-7" },
    });

    // The rollback reverts wave 1 at once although wave 2's window is still closed.
    const back = await phaseIs(s, rolledBack, ["rolledBack", "failed"], 90_000);
    expect(back.phase).toBe("rolledBack");
    expect(s.sim.instanceImages(scaleSet("web-c")).every((i) => i.version === "1.0.0")).toBe(true);
    // A second skip once the wave runs is refused: only a waiting rollout can skip.
    expect((await post(s, `/v1/rollouts/${skipped}/skip-window`, { reason: "again" })).statusCode).toBe(409);
  });
});

describe("the emergency stop", { timeout: 180_000 }, () => {
  it("pauses two active rollouts, refuses a new start (API 423, CLI exit 8), and clear lifts it without resuming", async () => {
    const s = await stack({ timeScale: 60 });
    const long = { bakeSeconds: 3600 };
    const a = (await post(s, "/v1/rollouts", spec("1.1.0", [["web-a"]], long))).json().id;
    const c = (await post(s, "/v1/rollouts", spec("1.1.0", [["web-c"]], long))).json().id;
    for (const id of [a, c]) await phaseIs(s, id, ["baking"], 60_000);

    // Mutation: the reason made optional -> 200 -> fails.
    expect((await post(s, "/v1/stop", {})).statusCode).toBe(400);
    const stop = await post(s, "/v1/stop", { reason: "SEV1 in westeurope" });
    expect(stop.statusCode, stop.body).toBe(200);
    expect(stop.json()).toMatchObject({ active: true, actor: "anonymous", reason: "SEV1 in westeurope" });
    // Mutation: the sweep skipped (flag only) -> still baking -> fails.
    for (const id of [a, c]) {
      const v = await view(s, id);
      expect(v.phase).toBe("paused");
      expect(types(v.timeline)).toEqual(expect.arrayContaining(["rollout.paused", "emergencyStop.set"]));
      expect(v.timeline.find((e: Entry) => e.type === "rollout.paused")?.message).toContain(
        "emergency stop: SEV1 in westeurope",
      );
    }

    // Mutation: starts not guarded -> 201 -> fails.
    const refused = await post(s, "/v1/rollouts", spec("1.1.0", [["web-d"]]));
    expect(refused.statusCode).toBe(423);
    expect(refused.json()).toMatchObject({
      code: "EMERGENCY_STOP",
      actor: "anonymous",
      reason: "SEV1 in westeurope",
    });
    await s.app.listen({ port: 0, host: "127.0.0.1" });
    const env = { CANARYD_URL: urlOf(s.app.server) };
    // Mutation: 423 mapped to usage (2) in exitCodeForStatus -> fails.
    const file = await writeTemp("spec.json", JSON.stringify(spec("1.1.0", [["web-d"]])));
    const cliStart = await runCli(["rollout", "start", "-f", file, "--json"], env);
    expect(cliStart.code).toBe(8);
    expect(JSON.parse(cliStart.stderr)).toMatchObject({ problem: { code: "EMERGENCY_STOP" } });
    const status = await runCli(["stop", "status"], env);
    expect(status.stdout).toContain("emergency stop in force: set by anonymous");
    // Pressed again (another on-call, another reason): the first stop's actor and reason stay.
    // Mutation: SET without NX -> the reason is overwritten -> fails.
    expect((await post(s, "/v1/stop", { reason: "second press" })).json()).toMatchObject({
      reason: "SEV1 in westeurope",
    });
    const state = (await s.app.inject({ url: "/v1/stop" })).json();
    expect(state).toMatchObject({ active: true, affectedRolloutIds: [a, c].sort() });

    const clear = await runCli(["stop", "clear", "--reason", "SEV1 mitigated"], env);
    expect(clear.code, clear.stderr).toBe(0);
    expect(clear.stdout).toContain(`still paused until resumed: ${[a, c].sort().join(", ")}`);
    for (const id of [a, c]) {
      const v = await view(s, id);
      // Mutation: clear resumes the rollouts -> phase baking -> fails.
      expect(v.phase).toBe("paused");
      const cleared = v.timeline.find((e: Entry) => e.type === "emergencyStop.cleared");
      expect(cleared).toMatchObject({ actor: "anonymous", data: { reason: "SEV1 mitigated" } });
    }
    expect((await s.app.inject({ url: "/v1/stop" })).json()).toMatchObject({ active: false });
    // Mutation: clear leaves the flag -> 423 -> fails.
    expect((await post(s, "/v1/rollouts", spec("1.1.0", [["web-d"]]))).statusCode).toBe(201);
    expect((await post(s, "/v1/stop/clear", {})).statusCode).toBe(409);
    await until("resumed", async () =>
      (await post(s, `/v1/rollouts/${a}/resume`, {})).statusCode === 200 ? true : undefined,
    );
  });
});
