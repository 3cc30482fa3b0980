/** Microsoft.Compute marketplace images: virtualMachineImages list and get. */
import { ArmError } from "../arm-errors.ts";
import { compareVersions, normalizeRegion } from "../fleet.ts";
import { checkSubscription } from "../lookup.ts";
import type { Route, SimContext } from "../router.ts";
import { route } from "../router.ts";
import type { MarketplaceImageState } from "../state.ts";

const SKU = String.raw`^/subscriptions/([^/]+)/providers/microsoft\.compute/locations/([^/]+)/publishers/([^/]+)/artifacttypes/vmimage/offers/([^/]+)/skus/([^/]+)/versions`;

function findSku(ctx: SimContext, params: string[]): MarketplaceImageState {
  const [sub = "", location = "", publisher = "", offer = "", sku = ""] = params;
  checkSubscription(ctx, sub);
  const image = ctx.fleet.state.marketplaceImages.find(
    (m) =>
      normalizeRegion(m.location) === normalizeRegion(location) &&
      m.publisher.toLowerCase() === publisher.toLowerCase() &&
      m.offer.toLowerCase() === offer.toLowerCase() &&
      m.sku.toLowerCase() === sku.toLowerCase(),
  );
  if (!image)
    throw new ArmError(
      404,
      "NotFound",
      `Artifact: VMImage was not found (${publisher}:${offer}:${sku} in ${location}).`,
    );
  return image;
}

function versionId(ctx: SimContext, m: MarketplaceImageState, version: string): string {
  return `/Subscriptions/${ctx.fleet.state.subscriptionId}/Providers/Microsoft.Compute/Locations/${m.location}/Publishers/${m.publisher}/ArtifactTypes/VMImage/Offers/${m.offer}/Skus/${m.sku}/Versions/${version}`;
}

export const marketplaceRoutes: Route[] = [
  route("GET", `${SKU}$`, "virtualMachineImages.list", (ctx, req) => {
    const m = findSku(ctx, req.params);
    const top = Number.parseInt(req.url.searchParams.get("$top") ?? "", 10);
    const desc = (req.url.searchParams.get("$orderby") ?? "").toLowerCase().includes("desc");
    const names = m.versions
      .map((v) => v.name)
      .sort((a, b) => (desc ? compareVersions(b, a) : compareVersions(a, b)));
    const limited = Number.isFinite(top) && top > 0 ? names.slice(0, top) : names;
    return {
      status: 200,
      body: limited.map((name) => ({ location: m.location, name, id: versionId(ctx, m, name) })),
    };
  }),
  route("GET", `${SKU}/([^/]+)$`, "virtualMachineImages.get", (ctx, req) => {
    const m = findSku(ctx, req.params);
    const name = req.params[5] ?? "";
    if (!m.versions.some((v) => v.name === name)) {
      throw new ArmError(
        404,
        "NotFound",
        `Artifact: VMImage was not found (${m.publisher}:${m.offer}:${m.sku}:${name}).`,
      );
    }
    return {
      status: 200,
      body: {
        location: m.location,
        name,
        id: versionId(ctx, m, name),
        properties: {
          hyperVGeneration: "V2",
          architecture: "x64",
          osDiskImage: { operatingSystem: "Linux" },
          dataDiskImages: [],
          automaticOSUpgradeProperties: { automaticOSUpgradeSupported: false },
          disallowed: { vmDiskType: "Unmanaged" },
          imageDeprecationStatus: { imageState: "Active" },
        },
      },
    };
  }),
];
