/**
 * retrieveBootDiagnosticsData and the blobs it points at. The URIs carry a SAS-style query string
 * (`sv`, `se`, `sr`, `sp`, `sig`) that the simulator itself checks when serving the blob, so no
 * bearer token is needed to download, as with real storage SAS URIs.
 */
import { ArmError, invalidParameter } from "../arm-errors.ts";
import { serialConsoleLog } from "../behaviour.ts";
import { findInstance } from "../lookup.ts";
import type { Route, SimContext, SimRequest, SimResponse } from "../router.ts";
import { COMPUTE_RG, route } from "../router.ts";
import { vmName } from "../wire.ts";

const BLOBS = String.raw`^/bootdiagnostics/([^/]+)/([^/]+)/([^/]+)/([^/]+)/(serialconsole\.log|screenshot\.bmp)$`;

/** A 1x1 black BMP: enough for a client that downloads the screenshot. */
const SCREENSHOT = Buffer.from(
  "424d3a0000000000000036000000280000000100000001000000010018000000000004000000130b0000130b0000000000000000000000000000",
  "hex",
);

function blobUri(ctx: SimContext, origin: string, path: string, expiresAtMs: number): string {
  const se = new Date(expiresAtMs).toISOString().replace(/\.\d{3}Z$/, "Z");
  const sig = ctx.signBlob(path, expiresAtMs);
  return `${origin}${path}?sv=2022-11-02&se=${encodeURIComponent(se)}&sr=b&sp=r&sig=${encodeURIComponent(sig)}`;
}

function retrieve(ctx: SimContext, req: SimRequest): SimResponse {
  const { ss, instance } = findInstance(ctx, req.params);
  const minutesParam = req.url.searchParams.get("sasUriExpirationTimeInMinutes");
  const minutes = minutesParam === null ? 120 : Number(minutesParam);
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) {
    throw invalidParameter(
      "sasUriExpirationTimeInMinutes must be an integer between 1 and 1440.",
      "sasUriExpirationTimeInMinutes",
    );
  }
  const expires = ctx.fleet.clock.wallNow() + minutes * 60_000;
  const base = `/bootdiagnostics/${ctx.fleet.state.subscriptionId}/${ss.resourceGroup}/${ss.name}/${instance.instanceId}`;
  return {
    status: 200,
    body: {
      consoleScreenshotBlobUri: blobUri(ctx, req.url.origin, `${base}/screenshot.bmp`, expires),
      serialConsoleLogBlobUri: blobUri(ctx, req.url.origin, `${base}/serialconsole.log`, expires),
    },
  };
}

function download(ctx: SimContext, req: SimRequest): SimResponse {
  const [sub = "", rg = "", name = "", instanceId = "", file = ""] = req.params;
  const path = req.url.pathname;
  const expires = Date.parse(req.url.searchParams.get("se") ?? "");
  const sig = req.url.searchParams.get("sig") ?? "";
  if (
    !Number.isFinite(expires) ||
    sig !== ctx.signBlob(path, expires) ||
    expires < ctx.fleet.clock.wallNow()
  ) {
    throw new ArmError(
      403,
      "AuthenticationFailed",
      "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
    );
  }
  const { ss, instance } = findInstance(ctx, [sub, rg, name, instanceId]);
  if (file === "screenshot.bmp") return { status: 200, raw: SCREENSHOT, contentType: "image/bmp" };
  const behaviour = ctx.fleet.behaviourOfInstance(instance);
  return {
    status: 200,
    raw: serialConsoleLog(behaviour, vmName(ss, instance)),
    contentType: "text/plain; charset=utf-8",
  };
}

export const bootDiagnosticsRoutes: Route[] = [
  route(
    "POST",
    `${COMPUTE_RG}/virtualmachinescalesets/([^/]+)/virtualmachines/([^/]+)/retrievebootdiagnosticsdata$`,
    "virtualMachineScaleSetVMs.retrieveBootDiagnosticsData",
    retrieve,
  ),
  route("GET", BLOBS, "bootDiagnostics.download", download, { auth: "sas" }),
];
