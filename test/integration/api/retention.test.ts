/**
 * Retention over the real engine, the simulator and real Redis: finished rollouts (completed,
 * rolled back, rejected) are compacted once retention.compactAfterSeconds has passed since they
 * ended, and not before; their release record (JSON and Markdown) and the NDJSON export are the
 * same before and after; the view, the list, the wait still answer; actions, the timeline and SSE
 * answer 410 ROLLOUT_COMPACTED; failed and running rollouts are never compacted; a compaction
 * raced by a late timeline entry, or run twice at once, leaves one intact record; the record goes
 * retention.recordDays after the end. Time is moved by passing the sweep the engine time to act at.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineKeys } from "../../../src/engine/store/keys.ts";
import type { RolloutStore } from "../../../src/engine/store/rollout-store.ts";
import { type ApiStack, demoScaleSet, demoVersion, startApiStack } from "./api-stack.ts";

const day = 86_400_000;
let stack: ApiStack;
let store: RolloutStore;
const ids = { completed: "", rolledBack: "", rejected: "", running: "", failed: "", raced: "", twice: "" };
const before: Record<string, { json: unknown; markdown: string; updatedAt: string; endedAt: string }> = {};
let ndjsonBefore: string;
let since: string;

async function start(spec: object): Promise<string> {
  const res = await stack.app.inject({
    method: "POST",
    url: "/v1/rollouts",
    headers: stack.auth("deployer"),
    payload: spec,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

const get = (url: string, headers: Record<string, string> = {}) =>
  stack.app.inject({ url, headers: { ...stack.auth("viewer"), ...headers } });

async function phaseOf(id: string): Promise<string> {
  return (await get(`/v1/rollouts/${id}`)).json().phase;
}

async function untilPhase(id: string, phases: string[], limitMs = 45_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!phases.includes(await phaseOf(id))) {
    if (Date.now() > deadline) throw new Error(`${id} never reached ${phases}: ${await phaseOf(id)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function snapshot(id: string) {
  const json = await get(`/v1/rollouts/${id}/record`);
  expect(json.statusCode, json.body).toBe(200);
  const markdown = await get(`/v1/rollouts/${id}/record`, { accept: "text/markdown" });
  expect(markdown.statusCode).toBe(200);
  const view = (await get(`/v1/rollouts/${id}`)).json();
  return {
    json: json.json(),
    markdown: markdown.body,
    updatedAt: view.updatedAt,
    endedAt: json.json().endedAt,
  };
}

const strategy = { bakeSeconds: 0, batchPercent: 100 };
const simple = (name: string, version: string, scaleSet: string, extra: object = {}) => ({
  name,
  owner: "team-web",
  changeRecord: "CHG-1",
  image: { galleryImageVersionId: demoVersion(version) },
  waves: [{ name: "only", scaleSets: [demoScaleSet(scaleSet)] }],
  strategy,
  ...extra,
});

beforeAll(async () => {
  stack = await startApiStack({
    // A rollback retrying through an outage gives up after 30 simulated seconds: `failed`.
    patch: (c) => ({ ...c, engine: { ...c.engine, rollbackPersistSeconds: 30, rollbackRetrySeconds: 1 } }),
  });
  store = stack.engine.retention.deps.store;
  since = new Date(Date.now() - 60_000).toISOString();
  ids.completed = await start(simple("web-b-1.1.0", "1.1.0", "web-b"));
  ids.rolledBack = await start(simple("web-c-1.2.0", "1.2.0", "web-c"));
  ids.rejected = await start(simple("web-d-1.5.0", "1.5.0", "web-d"));
  // Left waiting for an approval: running, never compacted.
  ids.running = await start(
    simple("web-a-1.1.0", "1.1.0", "web-a", {
      strategy: { ...strategy, approval: "afterCanary", approvalTimeoutSeconds: 864_000 },
    }),
  );
  await Promise.all([ids.completed, ids.rolledBack, ids.rejected].map((id) => stack.waitTerminal(id)));
  await untilPhase(ids.running, ["awaitingApproval"]);
  // Failed: a rollback that cannot reach Resource Manager for longer than rollbackPersistSeconds.
  ids.failed = await start(
    simple("web-b-1.6.0", "1.6.0", "web-b", { strategy: { ...strategy, bakeSeconds: 6000 } }),
  );
  await untilPhase(ids.failed, ["baking"]);
  const outage = stack.simulator.addFault({
    kind: "armOutage",
    simulatedSeconds: 100_000,
    retryAfterSeconds: 0,
  });
  const rollback = await stack.app.inject({
    method: "POST",
    url: `/v1/rollouts/${ids.failed}/rollback`,
    headers: stack.auth("oncall"),
    payload: { reason: "retention test" },
  });
  expect(rollback.statusCode, rollback.body).toBe(200);
  await untilPhase(ids.failed, ["failed"], 60_000);
  stack.simulator.removeFault(outage.id);
  // Two more completed rollouts for the race tests.
  ids.raced = await start(simple("web-c-1.1.0", "1.1.0", "web-c"));
  await stack.waitTerminal(ids.raced);
  ids.twice = await start(simple("web-d-1.1.0", "1.1.0", "web-d"));
  await stack.waitTerminal(ids.twice);
  for (const key of ["completed", "rolledBack", "rejected", "raced", "twice"] as const)
    before[key] = await snapshot(ids[key]);
  ndjsonBefore = (await get(`/v1/records?since=${encodeURIComponent(since)}`)).body;
}, 180_000);

afterAll(async () => {
  await stack?.close();
});

/** The engine time at which every finished rollout above is due. */
const allDue = () =>
  new Date(Math.max(...Object.values(before).map((b) => Date.parse(b.updatedAt))) + day + 1000);

describe("compaction", () => {
  it("does not happen before retention.compactAfterSeconds has passed since the end", async () => {
    // Mutation: drop the due check in Retention.prepare (compact whatever is finished) -> "compacted".
    const { retention } = stack.engine;
    const justBefore = new Date(Date.parse(before.completed?.updatedAt ?? "") + day - 1000);
    expect(await retention.compact(ids.completed, justBefore)).toBe("notDue");
    const view = (await get(`/v1/rollouts/${ids.completed}`)).json();
    expect(view.compacted).toBeUndefined();
    expect(view.timeline.length).toBeGreaterThan(0);
  });

  it("a compaction raced by a late timeline entry writes nothing; the next one records the entry", async () => {
    // Mutation: drop the timelineSeq comparison from the compact script -> "compacted" with a record
    // missing the late entry (and the late entry lost).
    const { retention } = stack.engine;
    const prepared = await retention.prepare(ids.raced, allDue());
    if (typeof prepared === "string") throw new Error(`not prepared: ${prepared}`);
    // A late, stale effect outcome noted after the terminal step (what note() records).
    await store.note(ids.raced, [
      { at: new Date().toISOString(), actor: "canaryd", type: "effect.stale", message: "late" },
    ]);
    expect(await retention.commit(prepared)).toBe("changed");
    const whole = (await get(`/v1/rollouts/${ids.raced}`)).json();
    expect(whole.compacted).toBeUndefined();
    expect(whole.timeline.at(-1).type).toBe("effect.stale");
    const rebuilt = (await get(`/v1/rollouts/${ids.raced}/record`)).json();
    // A crash after prepare (nothing written) then a fresh pass: compacted with the late entry covered.
    expect(await retention.compact(ids.raced, allDue())).toBe("compacted");
    expect((await get(`/v1/rollouts/${ids.raced}/record`)).json()).toEqual(rebuilt);
    expect(rebuilt.generatedFrom.lastSeq).toBe(whole.timeline.at(-1).seq);
  });

  it("waits while a step holds the rollout's lock, and never compacts a rollout named as a holder", async () => {
    // Mutation: drop the lock check from the compact script -> "compacted" under a running step.
    const { retention } = stack.engine;
    const lock = engineKeys(stack.config.redis.keyPrefix).lock(ids.twice);
    await store.redis.set(lock, "a-step-in-flight", "PX", 10_000);
    try {
      expect(await retention.compact(ids.twice, allDue())).toBe("locked");
    } finally {
      await store.redis.del(lock);
    }
    // Mutation: drop the holders loop from the compact script -> a claim left pointing at nothing.
    const holders = engineKeys(stack.config.redis.keyPrefix).holders;
    await store.redis.hset(holders, "retention-test-scale-set", ids.twice);
    try {
      expect(await retention.compact(ids.twice, allDue())).toBe("notFinished");
    } finally {
      await store.redis.hdel(holders, "retention-test-scale-set");
    }
    expect((await get(`/v1/rollouts/${ids.twice}`)).json().compacted).toBeUndefined();
  });

  it("run twice at once compacts once and leaves the record intact", async () => {
    // Mutation: make the compact script write without its checks (missing, revision, phase) -> a
    // second run over the rollout it already compacted answers "compacted" again.
    const { retention } = stack.engine;
    const outcomes = await Promise.all([
      retention.compact(ids.twice, allDue()),
      retention.compact(ids.twice, allDue()),
      retention.sweep(allDue()).then(() => "sweep"),
    ]);
    expect(outcomes.filter((o) => o === "compacted").length).toBeLessThanOrEqual(1);
    expect((await get(`/v1/rollouts/${ids.twice}`)).json().compacted).toBe(true);
    expect((await get(`/v1/rollouts/${ids.twice}/record`)).json()).toEqual(before.twice?.json);
  });

  it("after the time passes: finished rollouts are compacted, failed and running ones never", async () => {
    // Mutations: compactablePhases = terminalPhases (failed included) -> the failed one compacted;
    // drop the phase checks (TS and Lua) -> the running one compacted.
    const { retention } = stack.engine;
    // Far past every end: only the phase keeps the failed and the running rollout whole.
    await retention.sweep(new Date(allDue().getTime() + 30 * day));
    const keys = engineKeys(stack.config.redis.keyPrefix);
    for (const key of ["completed", "rolledBack", "rejected"] as const) {
      const view = (await get(`/v1/rollouts/${ids[key]}`)).json();
      expect(view).toMatchObject({ id: ids[key], phase: key, compacted: true });
      expect(typeof view.compactedAt).toBe("string");
      expect(view.timeline).toBeUndefined();
      // The working state is gone: snapshot, timeline, outbox, dead letters.
      expect(
        await store.redis.exists(
          keys.rollout(ids[key]),
          keys.timeline(ids[key]),
          keys.outbox(ids[key]),
          keys.deadLetters(ids[key]),
        ),
      ).toBe(0);
    }
    for (const key of ["failed", "running"] as const) {
      expect(await retention.compact(ids[key], new Date(allDue().getTime() + 30 * day))).toBe("notFinished");
      const view = (await get(`/v1/rollouts/${ids[key]}`)).json();
      expect(view.compacted).toBeUndefined();
      expect(view.phase).toBe(key === "failed" ? "failed" : "awaitingApproval");
      expect(view.timeline.length).toBeGreaterThan(0);
    }
  });

  it("keeps the release record identical, JSON and Markdown, and in the NDJSON export", async () => {
    // Mutations: build the stored record from the summary view (gate evidence dropped) -> the JSON
    // and Markdown differ; EngineService.compactedRecord answering nothing -> 404s.
    for (const key of ["completed", "rolledBack", "rejected", "twice"] as const) {
      const now = await snapshot(ids[key]);
      expect(now.json).toEqual(before[key]?.json);
      expect(now.markdown).toBe(before[key]?.markdown);
    }
    const ndjson = (await get(`/v1/records?since=${encodeURIComponent(since)}`)).body;
    const parse = (text: string) =>
      text
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line))
        // The compacted ones (the raced rollout gained an entry between the two exports).
        .filter((r: { rolloutId: string }) =>
          [ids.completed, ids.rolledBack, ids.rejected, ids.twice].includes(r.rolloutId),
        );
    expect(parse(ndjson)).toEqual(parse(ndjsonBefore));
    expect(parse(ndjson)).toHaveLength(4);
  });

  it("still lists and waits for a compacted rollout; actions, timeline and SSE answer 410 ROLLOUT_COMPACTED", async () => {
    // Mutations: drop the compacted rollouts from EngineService.loadListedRecords -> missing from the
    // list; drop refuseIfCompacted from act -> 404 ROLLOUT_NOT_FOUND instead of 410.
    const list = (await get("/v1/rollouts?limit=100")).json();
    const listed = list.items.find((v: { id: string }) => v.id === ids.completed);
    expect(listed).toMatchObject({ phase: "completed", compacted: true, name: "web-b-1.1.0" });
    const byPhase = (await get("/v1/rollouts?phase=rejected")).json();
    expect(byPhase.items.map((v: { id: string }) => v.id)).toContain(ids.rejected);
    const byScaleSet = (
      await get(`/v1/rollouts?scaleSetId=${encodeURIComponent(demoScaleSet("web-b"))}`)
    ).json();
    expect(byScaleSet.items.map((v: { id: string }) => v.id)).toEqual([ids.failed, ids.completed]);
    const wait = await get(`/v1/rollouts/${ids.completed}/wait?timeoutSeconds=1`);
    expect(wait.statusCode).toBe(200);
    expect(wait.json().compacted).toBe(true);

    const rollback = await stack.app.inject({
      method: "POST",
      url: `/v1/rollouts/${ids.completed}/rollback`,
      headers: stack.auth("oncall"),
      payload: { reason: "too late" },
    });
    expect(rollback.statusCode, rollback.body).toBe(410);
    expect(rollback.json()).toMatchObject({ code: "ROLLOUT_COMPACTED" });
    expect(rollback.json().detail).toContain("/record");
    // Mutation: drop the newerCompacted check in rollbackScaleSet -> 404 NOTHING_TO_ROLL_BACK (or an
    // older rollout rolled back) instead of naming the compacted one and the image to go back to.
    const oneCall = await stack.app.inject({
      method: "POST",
      url: "/v1/rollback",
      headers: stack.auth("oncall"),
      payload: { scaleSetId: demoScaleSet("web-c"), reason: "too late" },
    });
    expect(oneCall.statusCode, oneCall.body).toBe(410);
    expect(oneCall.json()).toMatchObject({ code: "ROLLOUT_COMPACTED", id: ids.raced });
    expect(oneCall.json().detail).toContain("versions/1.0.0");
    const events = await get(`/v1/rollouts/${ids.rolledBack}/events`);
    expect(events.statusCode).toBe(410);
    expect(events.json().code).toBe("ROLLOUT_COMPACTED");
  });

  it("deletes the record retention.recordDays after the end, not before", async () => {
    // Mutation: expiresAtMs = endedAt + (recordDays - 1) days -> gone a day early (the first half
    // fails); never expiring -> the second half fails.
    const { retention } = stack.engine;
    const ended = Date.parse(before.rejected?.endedAt ?? "");
    await retention.sweep(new Date(ended + 400 * day - 1000));
    expect((await get(`/v1/rollouts/${ids.rejected}/record`)).statusCode).toBe(200);
    const { expired } = await retention.sweep(new Date(ended + 400 * day));
    expect(expired).toBeGreaterThanOrEqual(1);
    const gone = await get(`/v1/rollouts/${ids.rejected}/record`);
    expect(gone.statusCode).toBe(404);
    expect(gone.json().code).toBe("ROLLOUT_NOT_FOUND");
    expect(gone.json().detail).toMatch(/expired/);
    expect((await get(`/v1/rollouts/${ids.rejected}`)).statusCode).toBe(404);
    const list = (await get("/v1/rollouts?limit=100")).json();
    expect(list.items.map((v: { id: string }) => v.id)).not.toContain(ids.rejected);
    expect((await get("/v1/rollouts?phase=rejected")).json().items).toEqual([]);
    // Failed and running rollouts are untouched by expiry too.
    expect((await get(`/v1/rollouts/${ids.failed}`)).json().timeline.length).toBeGreaterThan(0);
  });
});

describe("the periodic sweep", () => {
  it("compacts a finished rollout by itself once compactAfterSeconds has passed on the engine clock", async () => {
    // Mutation: do not schedule runRetention in Engine.start -> never compacted.
    const fast = await startApiStack({
      patch: (c) => ({ ...c, retention: { compactAfterSeconds: 1, recordDays: 400 } }),
      timing: { retentionSweepMs: 200 },
    });
    try {
      const res = await fast.app.inject({
        method: "POST",
        url: "/v1/rollouts",
        headers: fast.auth("deployer"),
        payload: simple("web-d-1.5.0", "1.5.0", "web-d"),
      });
      expect(res.statusCode, res.body).toBe(201);
      const id = res.json().id;
      const deadline = Date.now() + 20_000;
      for (;;) {
        const view = (
          await fast.app.inject({ url: `/v1/rollouts/${id}`, headers: fast.auth("viewer") })
        ).json();
        if (view.compacted) {
          expect(view.phase).toBe("rejected");
          break;
        }
        if (Date.now() > deadline) throw new Error(`never compacted: ${view.phase}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await fast.close();
    }
  }, 40_000);
});
