/**
 * Image references between ARM and canaryd: what a model or instance says, what a write sends,
 * and whether an instance runs a wanted image. `exactVersion` is read-only in ARM: it is
 * recorded, never written. Comparisons of references live in src/domain/image-reference.ts.
 */
import type { ImageReference as ArmImageReference } from "@azure/arm-compute";
import type { ImageReference } from "../domain/image.ts";
import { effectiveVersion, galleryImageDefinitionOf, sameImage } from "../domain/image-reference.ts";

const fields = [
  "id",
  "publisher",
  "offer",
  "sku",
  "version",
  "exactVersion",
  "sharedGalleryImageId",
  "communityGalleryImageId",
] as const;

/** Copies the fields canaryd cares about, dropping empty ones (ARM sends nulls and empty strings). */
export function fromArmImageReference(arm: ArmImageReference | undefined): ImageReference | undefined {
  if (!arm) return undefined;
  const reference: ImageReference = {};
  for (const field of fields) {
    const value = arm[field];
    if (typeof value === "string" && value !== "") reference[field] = value;
  }
  return Object.keys(reference).length > 0 ? reference : undefined;
}

/** What a model write sends: everything but the read-only `exactVersion`. */
export function toArmImageReference(reference: ImageReference): ArmImageReference {
  const { exactVersion: _readOnly, ...writable } = reference;
  return writable;
}

const same = (a: string | undefined, b: string | undefined) =>
  a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();

/** A gallery image version id without its version: the image definition. */
const galleryImage = (id: string) => galleryImageDefinitionOf(id).toLowerCase();

/**
 * True when an instance whose storage profile says `running` runs `wanted`: the same image and
 * the same version actually deployed (ARM's `exactVersion` where a reference says `latest`).
 */
export function runsImage(running: ImageReference | undefined, wanted: ImageReference): boolean {
  if (!running) return false;
  const versionsMatch = same(effectiveVersion(running), effectiveVersion(wanted));
  if (running.id || wanted.id)
    return (
      running.id !== undefined &&
      wanted.id !== undefined &&
      galleryImage(running.id) === galleryImage(wanted.id) &&
      versionsMatch
    );
  if (
    running.sharedGalleryImageId ||
    running.communityGalleryImageId ||
    wanted.sharedGalleryImageId ||
    wanted.communityGalleryImageId
  )
    return sameImage(running, wanted);
  return (
    same(running.publisher, wanted.publisher) &&
    same(running.offer, wanted.offer) &&
    same(running.sku, wanted.sku) &&
    versionsMatch
  );
}
