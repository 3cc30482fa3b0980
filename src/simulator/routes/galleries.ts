/** Microsoft.Compute galleries/images and galleries/images/versions (with `$expand=ReplicationStatus`). */
import { parentResourceNotFound, resourceNotFound } from "../arm-errors.ts";
import { compareVersions } from "../fleet.ts";
import { checkResourceGroup } from "../lookup.ts";
import type { Route, SimContext } from "../router.ts";
import { COMPUTE_RG, route } from "../router.ts";
import type { GalleryImageState } from "../state.ts";
import { armPrefix } from "../state.ts";
import { galleryImageJson, galleryVersionJson } from "../wire.ts";

const IMAGES = `${COMPUTE_RG}/galleries/([^/]+)/images`;

function findImage(ctx: SimContext, params: string[], asParent: boolean): GalleryImageState {
  const [sub = "", rg = "", gallery = "", image = ""] = params;
  checkResourceGroup(ctx, sub, rg);
  const galleryPrefix = `${armPrefix(sub, rg)}/galleries/${gallery}/`.toLowerCase();
  const images = ctx.fleet.state.galleryImages;
  if (!images.some((g) => g.id.toLowerCase().startsWith(galleryPrefix))) {
    throw parentResourceNotFound("Microsoft.Compute/galleries", gallery);
  }
  const found = images.find((g) => g.id.toLowerCase() === `${galleryPrefix}images/${image}`.toLowerCase());
  if (!found) {
    throw asParent
      ? parentResourceNotFound("Microsoft.Compute/galleries/images", `${gallery}/${image}`)
      : resourceNotFound("Microsoft.Compute/galleries/images", `${gallery}/${image}`, rg);
  }
  return found;
}

export const galleryRoutes: Route[] = [
  route("GET", `${IMAGES}/([^/]+)/versions/([^/]+)$`, "galleryImageVersions.get", (ctx, req) => {
    const image = findImage(ctx, req.params, true);
    const name = req.params[4] ?? "";
    const version = ctx.fleet.galleryVersion(`${image.id}/versions/${name}`);
    if (!version) {
      throw resourceNotFound(
        "Microsoft.Compute/galleries/images/versions",
        `${image.gallery}/${image.name}/${name}`,
        image.resourceGroup,
      );
    }
    const expand = (req.url.searchParams.get("$expand") ?? "").toLowerCase() === "replicationstatus";
    return { status: 200, body: galleryVersionJson(ctx.fleet, version, expand) };
  }),
  route("GET", `${IMAGES}/([^/]+)/versions$`, "galleryImageVersions.listByGalleryImage", (ctx, req) => {
    const image = findImage(ctx, req.params, true);
    const versions = ctx.fleet.state.galleryVersions
      .filter((v) => v.imageId === image.id)
      .sort((a, b) => compareVersions(a.name, b.name));
    return { status: 200, body: { value: versions.map((v) => galleryVersionJson(ctx.fleet, v, false)) } };
  }),
  route("GET", `${IMAGES}/([^/]+)$`, "galleryImages.get", (ctx, req) => ({
    status: 200,
    body: galleryImageJson(findImage(ctx, req.params, false)),
  })),
  route("GET", `${IMAGES}$`, "galleryImages.listByGallery", (ctx, req) => {
    const [sub = "", rg = "", gallery = ""] = req.params;
    checkResourceGroup(ctx, sub, rg);
    const prefix = `${armPrefix(sub, rg)}/galleries/${gallery}/`.toLowerCase();
    const images = ctx.fleet.state.galleryImages.filter((g) => g.id.toLowerCase().startsWith(prefix));
    if (images.length === 0) throw resourceNotFound("Microsoft.Compute/galleries", gallery, rg);
    return { status: 200, body: { value: images.map(galleryImageJson) } };
  }),
];
