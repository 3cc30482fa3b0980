/**
 * The ARM resource ids the adapters take, parsed or refused with an error code. The parsing
 * itself is the domain's (src/domain); this adds the throw and the id builder the SDK calls need.
 */
import { type GalleryImageVersionParts, parseGalleryImageVersionId } from "../domain/image-reference.ts";
import { parseScaleSetId, type ScaleSetIdParts } from "../domain/scale-set-id.ts";
import { AzureAdapterError } from "./errors.ts";

export function scaleSetRef(id: string): ScaleSetIdParts {
  const parts = parseScaleSetId(id);
  if (!parts) throw new AzureAdapterError("INVALID_RESOURCE_ID", `not a scale set resource id: ${id}`);
  return parts;
}

export function galleryImageVersionRef(id: string): GalleryImageVersionParts {
  const parts = parseGalleryImageVersionId(id);
  if (!parts)
    throw new AzureAdapterError("INVALID_RESOURCE_ID", `not a gallery image version resource id: ${id}`);
  return parts;
}

export function galleryImageVersionId(parts: GalleryImageVersionParts): string {
  return `/subscriptions/${parts.subscriptionId}/resourceGroups/${parts.resourceGroup}/providers/Microsoft.Compute/galleries/${parts.gallery}/images/${parts.image}/versions/${parts.version}`;
}
