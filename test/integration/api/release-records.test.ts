/**
 * Release records over the real engine and the simulator: a completed (with an approval), a
 * rolled-back and a rejected rollout each have a record built from what canaryd stored; the
 * Markdown release note, the CLI and the NDJSON export carry the same facts. With
 * CANARYD_WRITE_EXAMPLES=1 the three Markdown notes are written to docs/examples/.
 */
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, urlOf } from "../../unit/cli/cli-harness.ts";
import { type ApiStack, demoScaleSet, demoVersion, startApiStack } from "./api-stack.ts";

let stack: ApiStack;
const ids: Record<"completed" | "rolledBack" | "rejected", string> = {
  completed: "",
  rolledBack: "",
  rejected: "",
};
let startedAt: string;

async function start(stackSpec: object): Promise<string> {
  const res = await stack.app.inject({
    method: "POST",
    url: "/v1/rollouts",
    headers: stack.auth("deployer"),
    payload: stackSpec,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

async function record(id: string) {
  const res = await stack.app.inject({ url: `/v1/rollouts/${id}/record`, headers: stack.auth("viewer") });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function markdown(id: string): Promise<string> {
  const res = await stack.app.inject({
    url: `/v1/rollouts/${id}/record`,
    headers: { ...stack.auth("viewer"), accept: "text/markdown" },
  });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers["content-type"]).toMatch(/^text\/markdown/);
  return res.body;
}

beforeAll(async () => {
  stack = await startApiStack();
  startedAt = new Date().toISOString();
  const strategy = { bakeSeconds: 0, batchPercent: 100 };
  // Three rollouts at once, on three scale sets.
  ids.completed = await start({
    name: "web-b-1.1.0",
    owner: "team-web",
    changeRecord: "CHG-4711",
    labels: { service: "web" },
    image: { galleryImageVersionId: demoVersion("1.1.0") },
    waves: [{ name: "canary-ring", scaleSets: [demoScaleSet("web-b")] }],
    strategy: { ...strategy, approval: "afterCanary", approvalTimeoutSeconds: 86_400 },
  });
  ids.rolledBack = await start({
    name: "web-c-1.2.0",
    owner: "team-web",
    image: { galleryImageVersionId: demoVersion("1.2.0") },
    waves: [{ name: "only", scaleSets: [demoScaleSet("web-c")] }],
    strategy,
  });
  ids.rejected = await start({
    name: "web-d-1.5.0",
    image: { galleryImageVersionId: demoVersion("1.5.0") },
    waves: [{ name: "only", scaleSets: [demoScaleSet("web-d")] }],
    strategy,
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const view = (
      await stack.app.inject({ url: `/v1/rollouts/${ids.completed}`, headers: stack.auth("viewer") })
    ).json();
    if (view.phase === "awaitingApproval") break;
    if (Date.now() > deadline) throw new Error(`never awaited approval: ${view.phase}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const approved = await stack.app.inject({
    method: "POST",
    url: `/v1/rollouts/${ids.completed}/approve`,
    headers: stack.auth("deployer"),
    payload: { reason: "canary looks fine" },
  });
  expect(approved.statusCode, approved.body).toBe(200);
  await Promise.all(Object.values(ids).map((id) => stack.waitTerminal(id)));
}, 90_000);

afterAll(async () => {
  await stack?.close();
});

describe("the release record of a completed rollout", () => {
  it("holds who, when, the image as read at preflight, previous and final images, the approval and gate verdicts", async () => {
    const r = await record(ids.completed);
    expect(r).toMatchObject({
      schema: "canaryd.release-record/v1",
      rolloutId: ids.completed,
      name: "web-b-1.1.0",
      phase: "completed",
      startedBy: "deployer-bot",
      owner: "team-web",
      changeRecord: "CHG-4711",
      labels: { service: "web" },
      outcome: { phase: "completed", terminal: true },
    });
    expect(Date.parse(r.endedAt)).toBeGreaterThanOrEqual(Date.parse(r.startedAt));
    // The image as preflight read it: the scenario's 1.1.0 has no end of life, is in latest, and
    // replicated (after 4 simulated seconds) to westeurope, where web-b runs.
    expect(r.image.version).toBe("1.1.0");
    expect(r.image.deployed.id.toLowerCase()).toBe(demoVersion("1.1.0").toLowerCase());
    expect(r.image.excludeFromLatest).toBe(false);
    expect(Object.keys(r.image.replication)).toEqual(["westeurope"]);
    expect(typeof r.image.publishedDate).toBe("string");
    expect(r.image.endOfLifeDate).toBeUndefined();

    const [ss] = r.scaleSets;
    expect(ss.previousImage.id.toLowerCase()).toBe(demoVersion("1.0.0").toLowerCase());
    expect(ss.endedOn.id.toLowerCase()).toBe(demoVersion("1.1.0").toLowerCase());
    expect(ss.touchedInstances).toBe(4);
    expect(ss.batches.map((b: { kind: string; status: string }) => [b.kind, b.status])).toEqual([
      ["canary", "passed"],
      ["promotion", "passed"],
    ]);
    expect(ss.gateVerdicts.length).toBeGreaterThan(0);
    for (const v of ss.gateVerdicts)
      expect(v.evidence).toMatch(new RegExp(`^/v1/rollouts/${ids.completed}#timeline-\\d+$`));
    expect(r.actions.map((a: { action: string }) => a.action)).toEqual(["approvalRequested", "approve"]);
    expect(r.actions[1]).toMatchObject({
      actor: "deployer-bot",
      message: expect.stringContaining("canary looks fine"),
    });
    // Evidence references point at the timeline entries that hold the full evidence.
    const timeline = await stack.engine.service.timeline(ids.completed);
    const ref = Number(ss.gateVerdicts[0].evidence.split("-").pop());
    expect(timeline[ref - 1]?.type).toMatch(/^gates\./);
  });

  it("renders as a release note naming the same facts, and the CLI prints it", async () => {
    const md = await markdown(ids.completed);
    expect(md).toContain("# Release record: web-b-1.1.0");
    expect(md).toContain("**Outcome: Completed**");
    expect(md).toContain("CHG-4711");
    expect(md).toContain(
      "| web-b | canary-ring | completed | `demoGallery/web 1.0.0` | `demoGallery/web 1.1.0` every instance on the new image | 4 |",
    );
    expect(md).toContain(`| Resource id | \`${demoVersion("1.1.0")}\` |`);
    expect(md).toMatch(/\| deployer-bot \| approve \|/);

    const env = {
      CANARYD_URL: urlOf(stack.app.server),
      CANARYD_TOKEN: stack.auth("viewer").authorization.slice(7),
    };
    const cliMd = await runCli(["rollout", "record", ids.completed, "--markdown"], env);
    expect(cliMd.code, cliMd.stderr).toBe(0);
    expect(cliMd.stdout).toBe(md.trimEnd());
    const cliJson = await runCli(["rollout", "record", ids.completed], env);
    expect(JSON.parse(cliJson.stdout)).toEqual(await record(ids.completed));
    const missing = await runCli(["rollout", "record", "ro-nope", "--markdown"], env);
    expect(missing.code).not.toBe(0);
  });
});

describe("the release record of a rolled-back rollout", () => {
  it("names the failed gate, the automatic rollback and the image each scale set ended on", async () => {
    const r = await record(ids.rolledBack);
    expect(r.outcome).toMatchObject({ phase: "rolledBack", terminal: true });
    expect(r.outcome.reason).toBeTruthy();
    const [ss] = r.scaleSets;
    expect(ss.phase).toBe("rolledBack");
    expect(ss.endedOn.id.toLowerCase()).toBe(demoVersion("1.0.0").toLowerCase());
    expect(ss.gateVerdicts.some((v: { verdict: string }) => v.verdict === "failed")).toBe(true);
    expect(ss.gateVerdicts.some((v: { purpose: string }) => v.purpose === "rollback")).toBe(true);
    const rollback = r.actions.find((a: { action: string }) => a.action === "rollback");
    expect(rollback).toMatchObject({ actor: "canaryd" });
    expect(rollback.cause).not.toBe("abort");
    expect(await markdown(ids.rolledBack)).toContain("**Outcome: Rolled back**");
  });
});

describe("the release record of a rejected rollout", () => {
  it("names the refusal and the replication state per region as read at preflight", async () => {
    const r = await record(ids.rejected);
    expect(r.outcome).toMatchObject({ phase: "rejected", terminal: true });
    // 1.5.0's replication to northeurope (where web-d runs) failed; it has an end of life date.
    expect(r.image.replication).toEqual({ northeurope: "failed" });
    expect(r.image.endOfLifeDate).toBe("2027-12-31T00:00:00.000Z");
    expect(r.findings.map((f: { code: string }) => f.code)).toContain("REPLICATION_FAILED");
    expect(r.scaleSets[0].endedOnNote).toMatch(/never changed/);
    expect(r.actions).toEqual([]);
    const md = await markdown(ids.rejected);
    expect(md).toContain("**Outcome: Rejected at preflight**");
    expect(md).toContain("northeurope: failed");
  });
});

describe("GET /v1/records", () => {
  it("streams one record per rollout ended since the time, oldest end first, as NDJSON", async () => {
    const res = await stack.app.inject({
      url: `/v1/records?since=${encodeURIComponent(startedAt)}`,
      headers: stack.auth("viewer"),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/x-ndjson/);
    const lines = res.body
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((l) => l.rolloutId).sort()).toEqual(Object.values(ids).sort());
    const ends = lines.map((l) => l.endedAt);
    expect(ends).toEqual([...ends].sort());

    const later = await stack.app.inject({
      url: `/v1/records?since=${encodeURIComponent(new Date(Date.now() + 30 * 86_400_000).toISOString())}`,
      headers: stack.auth("viewer"),
    });
    expect(later.body).toBe("");
    const bad = await stack.app.inject({ url: "/v1/records?since=yesterday", headers: stack.auth("viewer") });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe("INVALID_SINCE");
  });

  it.runIf(process.env.CANARYD_WRITE_EXAMPLES === "1")("writes the example release notes", async () => {
    for (const [kind, id] of Object.entries(ids))
      await writeFile(`docs/examples/release-record-${kind}.md`, await markdown(id));
  });
});
