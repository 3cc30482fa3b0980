/** The inventory's pure shaping: end-of-life windows, approvals, pinning and drift, at a fixed time. */
import { describe, expect, it } from "vitest";
import type { InstanceFacts } from "../../../src/domain/fleet.ts";
import { buildInventory, type InventoryInput } from "../../../src/domain/inventory.ts";

const gallery = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/app";
const v = (version: string) => `${gallery}/versions/${version}`;
const now = new Date("2026-12-01T00:00:00Z");
const instance = (id: string, version: string, latestModelApplied = true): InstanceFacts => ({
  instanceId: id,
  name: `vm_${id}`,
  protectedFromScaleSetActions: false,
  imageReference: { id: v(version) },
  latestModelApplied,
  provisioningState: "Succeeded",
  errorCodes: [],
});
const scaleSet = (name: string, model: string | undefined, instances: InstanceFacts[], tags = {}) => ({
  model: {
    id: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`,
    name,
    location: "westeurope",
    upgradePolicyMode: "Manual",
    ...(model ? { imageReference: { id: model } } : {}),
    tags,
  },
  instances,
});

function input(overrides: Partial<InventoryInput> = {}): InventoryInput {
  return {
    now,
    source: "arm",
    scaleSets: [
      scaleSet("a", v("1.0.0"), [instance("0", "1.0.0"), instance("1", "1.1.0", false)], { env: "prod" }),
    ],
    versions: {
      [v("1.0.0").toLowerCase()]: {
        exists: true,
        excludeFromLatest: false,
        endOfLifeDate: "2026-12-31T00:00:00.000Z",
      },
      [v("1.1.0").toLowerCase()]: {
        exists: true,
        excludeFromLatest: true,
        endOfLifeDate: "2026-11-30T00:00:00.000Z",
      },
    },
    requiresApproval: (m) => m.tags?.env === "prod",
    eolWarningDays: 30,
    ...overrides,
  };
}

const codes = (inv: ReturnType<typeof buildInventory>) => inv.findings.map((f) => f.code).sort();

describe("buildInventory", () => {
  it("warns within eolWarningDays of end of life, errs past it, and says how many days remain", () => {
    const inv = buildInventory(input());
    expect(inv.images.map((i) => [i.version, i.retiresInDays])).toEqual([
      ["1.0.0", 30],
      ["1.1.0", -1],
    ]);
    expect(inv.findings.filter((f) => f.code.startsWith("imageEndOfLife"))).toMatchObject([
      { code: "imageEndOfLifeSoon", severity: "warning", imageVersionId: v("1.0.0") },
      { code: "imageEndOfLife", severity: "error", imageVersionId: v("1.1.0") },
    ]);
    // One day less of warning window: 1.0.0 (30 days out) is no longer a warning.
    expect(codes(buildInventory(input({ eolWarningDays: 29 })))).not.toContain("imageEndOfLifeSoon");
  });

  it("flags unapproved versions only where approval is required and only once a catalog exists", () => {
    expect(codes(buildInventory(input()))).not.toContain("unapprovedInProduction");
    const approved = new Set([v("1.0.0").toLowerCase()]);
    const inv = buildInventory(input({ approved }));
    expect(
      inv.findings.filter((f) => f.code === "unapprovedInProduction").map((f) => f.imageVersionId),
    ).toEqual([v("1.1.0")]);
    expect(inv.images.map((i) => i.approved)).toEqual([true, false]);
    const notRequired = buildInventory(input({ approved, requiresApproval: () => false }));
    expect(codes(notRequired)).not.toContain("unapprovedInProduction");
  });

  it("calls a model naming the image definition unpinned, and counts instances off the latest model", () => {
    const inv = buildInventory(
      input({
        scaleSets: [
          scaleSet("u", gallery, [
            { ...instance("0", "1.0.0"), imageReference: { id: gallery, exactVersion: "1.0.0" } },
          ]),
        ],
      }),
    );
    expect(inv.scaleSets[0]?.model.pinned).toBe(false);
    expect(inv.images[0]?.imageVersionId).toBe(v("1.0.0"));
    expect(codes(inv)).toContain("unpinnedModel");
    const pinned = buildInventory(input());
    expect(pinned.scaleSets[0]?.model).toMatchObject({ pinned: true, version: "1.0.0" });
    expect(pinned.scaleSets[0]?.instances).toEqual({
      total: 2,
      byVersion: { "1.0.0": 1, "1.1.0": 1 },
      notOnLatestModel: 1,
      notOnLatestModelIds: ["1"],
    });
    expect(codes(pinned)).not.toContain("unpinnedModel");
  });
});
