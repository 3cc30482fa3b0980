/**
 * The approved-version catalog and the production policy over the real engine and the simulator
 * (demo scenario, policy.requireApproval on for web-b): approvals refused naming why, an
 * unapproved version rejected at preflight naming the scale set and the version, approving it
 * lets the same spec through, an exception is recorded in the timeline and the release record.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiStack, demoScaleSet, demoVersion, startApiStack } from "./api-stack.ts";

let stack: ApiStack;

beforeAll(async () => {
  stack = await startApiStack({
    patch: (config) => ({
      ...config,
      policy: {
        ...config.policy,
        requireApproval: { scaleSets: ["*/virtualMachineScaleSets/web-b"], tags: {} },
      },
    }),
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

const spec = (version: string, extra: object = {}) => ({
  name: `web-b-${version}`,
  image: { galleryImageVersionId: demoVersion(version) },
  waves: [{ name: "only", scaleSets: [demoScaleSet("web-b")] }],
  strategy: { bakeSeconds: 0, batchPercent: 100 },
  ...extra,
});

async function run(body: object) {
  const res = await stack.app.inject({
    method: "POST",
    url: "/v1/rollouts",
    headers: stack.auth("deployer"),
    payload: body,
  });
  expect(res.statusCode, res.body).toBe(201);
  return stack.waitTerminal(res.json().id);
}

async function approve(imageVersionId: string, role: "oncall" | "deployer" = "oncall") {
  return stack.app.inject({
    method: "POST",
    url: "/v1/approvals",
    headers: stack.auth(role),
    payload: { imageVersionId, note: "passed staging" },
  });
}

describe("approving a version", () => {
  it("is refused, naming why, for a version that does not exist or failed replication; only oncall may approve", async () => {
    const missing = await approve(demoVersion("9.9.9"));
    expect(missing.statusCode).toBe(422);
    expect(missing.json()).toMatchObject({ code: "APPROVAL_VERSION_MISSING" });
    const failed = await approve(demoVersion("1.5.0"));
    expect(failed.statusCode).toBe(422);
    expect(failed.json()).toMatchObject({ code: "APPROVAL_REPLICATION_FAILED" });
    expect(failed.json().detail).toContain("northeurope");
    expect((await approve(demoVersion("1.1.0"), "deployer")).statusCode).toBe(403);
    const list = await stack.app.inject({ url: "/v1/approvals", headers: stack.auth("viewer") });
    expect(list.json().items).toEqual([]);
  });
});

describe("policy.requireApproval on web-b", () => {
  it("rejects an unapproved version naming web-b and the version; approving it lets the same spec through", async () => {
    const rejected = await run(spec("1.1.0"));
    expect(rejected.phase).toBe("rejected");
    expect(rejected.reason).toContain("web-b");
    expect(rejected.reason).toContain("1.1.0");
    expect((rejected.findings as { code: string }[]).map((f) => f.code)).toEqual(["IMAGE_NOT_APPROVED"]);

    const approved = await approve(demoVersion("1.1.0"));
    expect(approved.statusCode, approved.body).toBe(201);
    expect(approved.json()).toMatchObject({
      approvedBy: "oncall-bot",
      version: "1.1.0",
      note: "passed staging",
    });
    const list = await stack.app.inject({ url: "/v1/approvals", headers: stack.auth("viewer") });
    expect(list.json().items.map((a: { id: string }) => a.id)).toEqual([approved.json().id]);

    const completed = await run(spec("1.1.0"));
    expect(completed.phase).toBe("completed");
  });

  it("lets a spec with an exception through, recorded in the timeline and the release record", async () => {
    // 1.0.0 is not approved: without the exception the dry run says it would not start.
    const plain = await stack.app.inject({
      method: "POST",
      url: "/v1/rollouts?dryRun=true",
      headers: stack.auth("deployer"),
      payload: spec("1.0.0"),
    });
    expect(plain.json()).toMatchObject({ wouldStart: false, findings: [{ code: "IMAGE_NOT_APPROVED" }] });
    const exception = { reason: "roll back to the last known good build", ticket: "INC-77" };
    const planned = await stack.app.inject({
      method: "POST",
      url: "/v1/rollouts?dryRun=true",
      headers: stack.auth("deployer"),
      payload: spec("1.0.0", { exception }),
    });
    expect(planned.json()).toMatchObject({ wouldStart: true, exception: { ticket: "INC-77" } });

    const done = await run(spec("1.0.0", { exception }));
    expect(done.phase).toBe("completed");
    const timeline = await stack.engine.service.timeline(done.id);
    expect(timeline.find((e) => e.type === "policy.exception")).toMatchObject({
      data: { ticket: "INC-77", reason: exception.reason, overrides: [{ code: "IMAGE_NOT_APPROVED" }] },
    });
    const record = await stack.app.inject({
      url: `/v1/rollouts/${done.id}/record`,
      headers: stack.auth("viewer"),
    });
    expect(record.json().exception).toMatchObject({ ticket: "INC-77", reason: exception.reason });
    const md = await stack.app.inject({
      url: `/v1/rollouts/${done.id}/record`,
      headers: { ...stack.auth("viewer"), accept: "text/markdown" },
    });
    expect(md.body).toContain("## Policy exception");
    expect(md.body).toContain("INC-77");
  });

  it("revokes an approval with a reason, kept for audit; the version is no longer approved", async () => {
    const [approval] = (
      await stack.app.inject({ url: "/v1/approvals", headers: stack.auth("viewer") })
    ).json().items;
    const revoked = await stack.app.inject({
      method: "DELETE",
      url: `/v1/approvals/${approval.id}`,
      headers: stack.auth("oncall"),
      payload: { reason: "CVE-2026-1234 in the kernel" },
    });
    expect(revoked.statusCode, revoked.body).toBe(200);
    expect(revoked.json().revoked).toMatchObject({ by: "oncall-bot", reason: "CVE-2026-1234 in the kernel" });
    expect(
      (await stack.app.inject({ url: "/v1/approvals", headers: stack.auth("viewer") })).json().items,
    ).toEqual([]);
    const all = (
      await stack.app.inject({ url: "/v1/approvals?all=true", headers: stack.auth("viewer") })
    ).json().items;
    expect(all.map((a: { id: string }) => a.id)).toEqual([approval.id]);
    const again = await stack.app.inject({
      method: "POST",
      url: "/v1/rollouts?dryRun=true",
      headers: stack.auth("deployer"),
      payload: spec("1.1.0"),
    });
    expect(again.json()).toMatchObject({ wouldStart: false, findings: [{ code: "IMAGE_NOT_APPROVED" }] });
    const unknown = await stack.app.inject({
      method: "DELETE",
      url: "/v1/approvals/ap-nope",
      headers: stack.auth("oncall"),
      payload: { reason: "x" },
    });
    expect(unknown.statusCode).toBe(404);
  });
});
