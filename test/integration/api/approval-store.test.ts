/**
 * The catalog's refusals against real Redis, for the facts the demo simulator has no version for
 * (a version past its end of life) and for expiry: the version facts come from a function the
 * test gives (the store's seam), not from a mocked SDK.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { ApprovalStore } from "../../../src/approvals/approval-store.ts";
import type { ImageVersionFacts } from "../../../src/azure/gallery.ts";
import { redisUrl } from "./api-stack.ts";

const redis = new Redis(redisUrl);
const key = `{cdappr-${randomBytes(5).toString("hex")}}:approvals`;
afterAll(async () => {
  await redis.del(key);
  redis.disconnect();
});

const version = (v: string) =>
  `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/app/versions/${v}`;
let now = new Date("2026-12-01T00:00:00Z");
const facts: Record<string, Partial<ImageVersionFacts>> = {
  [version("1.0.0")]: { endOfLifeDate: "2026-11-30T00:00:00.000Z" },
  [version("1.1.0")]: { endOfLifeDate: "2027-11-30T00:00:00.000Z" },
};
const store = new ApprovalStore({
  redis,
  key,
  now: () => now,
  readImageVersion: async (id) => ({
    id,
    exists: id in facts,
    targetRegions: ["westeurope"],
    replication: { westeurope: "completed" },
    replicationDetails: {},
    excludeFromLatest: false,
    ...facts[id],
  }),
});

describe("the approval store", () => {
  it("refuses a version past its end of life, naming the date", async () => {
    await expect(store.approve({ imageVersionId: version("1.0.0"), actor: "pager" })).rejects.toMatchObject({
      code: "APPROVAL_END_OF_LIFE",
      statusCode: 422,
      message: expect.stringContaining("2026-11-30"),
    });
    await expect(
      store.approve({ imageVersionId: `${version("1.1.0")}/extra`, actor: "pager" }),
    ).rejects.toMatchObject({ code: "APPROVAL_NOT_A_VERSION" });
  });

  it("keeps an approval in force until it expires, then only lists it with all", async () => {
    const approval = await store.approve({
      imageVersionId: version("1.1.0"),
      actor: "pager",
      expiresAt: "2026-12-02T00:00:00Z",
    });
    expect(approval).toMatchObject({ approvedBy: "pager", endOfLifeDate: "2027-11-30T00:00:00.000Z" });
    expect(await store.approvedKeys()).toEqual(new Set([version("1.1.0").toLowerCase()]));
    now = new Date("2026-12-02T00:00:01Z");
    expect(await store.approvedKeys()).toBeUndefined();
    expect((await store.list({ all: true })).map((a) => a.id)).toEqual([approval.id]);
  });
});
