import { describe, expect, it } from "vitest";
import {
  effectiveVersion,
  formatImage,
  imageReferenceFromSpec,
  normalizeRegion,
  parseGalleryImageVersionId,
  parseImageUrn,
  referencesLatest,
  sameImage,
} from "../../../src/domain/image-reference.ts";
import { parseScaleSetId, sameScaleSet } from "../../../src/domain/scale-set-id.ts";
import { pinned } from "../../../src/effects/write-model-image.ts";

const id =
  "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/galleries/demoGallery/images/web/versions/1.1.0";

describe("image references", () => {
  it("parses a gallery image version id and a urn", () => {
    expect(parseGalleryImageVersionId(id)).toEqual({
      subscriptionId: "s1",
      resourceGroup: "rg",
      gallery: "demoGallery",
      image: "web",
      version: "1.1.0",
    });
    expect(parseImageUrn("Canonical:ubuntu:server:latest")).toEqual({
      publisher: "Canonical",
      offer: "ubuntu",
      sku: "server",
      version: "latest",
    });
    expect(parseImageUrn("Canonical:ubuntu:server")).toBeUndefined();
  });

  it("compares ids case-insensitively and ignores exactVersion", () => {
    expect(sameImage({ id }, { id: id.toUpperCase() })).toBe(true);
    const latest = { publisher: "C", offer: "o", sku: "s", version: "latest" };
    expect(sameImage(latest, { ...latest, exactVersion: "1.2.3" })).toBe(true);
    expect(sameImage(latest, { ...latest, version: "1.2.3" })).toBe(false);
    expect(sameImage({ id }, latest)).toBe(false);
  });

  it("formats for people, with the exact version behind latest", () => {
    expect(formatImage({ id })).toBe("demoGallery/web 1.1.0");
    expect(
      formatImage({ publisher: "C", offer: "o", sku: "s", version: "latest", exactVersion: "1.2.3" }),
    ).toBe("C:o:s:latest (1.2.3)");
  });

  it("knows when a reference asks for latest", () => {
    expect(referencesLatest(imageReferenceFromSpec({ urn: "C:o:s:latest" }))).toBe(true);
    expect(referencesLatest(imageReferenceFromSpec({ galleryImageVersionId: id }))).toBe(false);
  });

  it("normalises region display names to the short form", () => {
    expect(normalizeRegion("West Europe")).toBe("westeurope");
    expect(normalizeRegion("westeurope")).toBe("westeurope");
  });
});

describe("scale set ids", () => {
  it("parses and compares case-insensitively", () => {
    const vmss =
      "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web-a";
    expect(parseScaleSetId(vmss)).toEqual({ subscriptionId: "s1", resourceGroup: "rg", name: "web-a" });
    expect(sameScaleSet(vmss, vmss.toUpperCase())).toBe(true);
    expect(parseScaleSetId("/subscriptions/s1/web-a")).toBeUndefined();
  });
});

describe("a gallery image definition (no version) in a model", () => {
  const definition = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/web";
  it("means latest, deploys the version ARM reports, and is written pinned to that exact version", () => {
    expect(referencesLatest({ id: definition })).toBe(true);
    expect(referencesLatest({ id: `${definition}/versions/1.0.0` })).toBe(false);
    expect(effectiveVersion({ id: definition, exactVersion: "1.1.0" })).toBe("1.1.0");
    expect(effectiveVersion({ id: `${definition}/versions/1.0.0`, exactVersion: "9.9.9" })).toBe("1.0.0");
    expect(formatImage({ id: definition, exactVersion: "1.1.0" })).toBe("g/web latest (1.1.0)");
    expect(pinned({ id: definition, exactVersion: "1.1.0" })).toEqual({ id: `${definition}/versions/1.1.0` });
    expect(pinned({ id: `${definition}/versions/latest`, exactVersion: "1.1.0" })).toEqual({
      id: `${definition}/versions/1.1.0`,
    });
    expect(pinned({ id: definition })).toEqual({ id: definition });
  });
});
