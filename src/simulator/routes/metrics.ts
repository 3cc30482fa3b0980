/**
 * Azure Monitor's regional batch metrics endpoint (`metrics:getBatch`) as
 * @azure/monitor-query-metrics calls it: one region per endpoint (a batch naming a resource in
 * another region is refused, as Azure does), series split by the `VMName` dimension when the
 * filter asks for it, `top` series (default 10). Each instance has one sample per minute, from the
 * version it ran in that minute (its version history) at the age it then had; an interval bucket
 * aggregates its minutes. Minutes that simulated time has not reached, minus the ingestion delay,
 * have no values yet (their timestamps are listed without values, as Azure lists empty buckets).
 * Stateless: nothing is stored, a re-read answers the same numbers.
 */
import { ArmError } from "../arm-errors.ts";
import { isKnownMetric, metricSample, metricUnit, noiseSource } from "../behaviour.ts";
import type { Fleet } from "../fleet.ts";
import { normalizeRegion } from "../fleet.ts";
import type { Route, SimContext, SimRequest, SimResponse } from "../router.ts";
import { route } from "../router.ts";
import type { InstanceState, ScaleSetState } from "../state.ts";
import { vmName } from "../wire.ts";

const NAMESPACE = "microsoft.compute/virtualmachinescalesets";
const MAX_POINTS = 1440;
const AGGREGATIONS = ["average", "minimum", "maximum", "total", "count"] as const;
type Aggregation = (typeof AGGREGATIONS)[number];

function badRequest(message: string, code = "BadRequest"): ArmError {
  return new ArmError(400, code, message);
}

/** ISO 8601 durations as Monitor uses them for `interval` (PT1M, PT5M, PT1H, P1D). */
export function parseDuration(text: string): number | undefined {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/i.exec(text);
  if (!m || text.toUpperCase() === "P" || text.toUpperCase() === "PT") return undefined;
  const [, d = "0", h = "0", min = "0", s = "0"] = m;
  const ms = ((Number(d) * 24 + Number(h)) * 60 + Number(min)) * 60_000 + Number(s) * 1000;
  return ms > 0 ? ms : undefined;
}

/** Which VMName values the filter asks to split by: `all`, a list, or none (one aggregate series). */
function vmNameFilter(filter: string | null): "all" | string[] | undefined {
  if (!filter) return undefined;
  const clauses = [...filter.matchAll(/vmname\s+eq\s+'([^']*)'/gi)].map((m) => m[1] ?? "");
  if (clauses.length === 0) return undefined;
  return clauses.includes("*") ? "all" : clauses.map((c) => c.toLowerCase());
}

/**
 * The time axis of a query. At time scale 1 it is the wall clock. Faster, the caller's clock runs
 * ahead of the wall clock by an amount the simulator cannot know (each clock has its own origin),
 * so the query's `endtime` is taken as the caller's now and the version history is projected onto
 * the caller's axis: a wall instant `w` is `endtime - (wallNow - w) * timeScale` there. Ages and
 * the ingestion delay are then simulated seconds on the axis the caller reads.
 */
interface Window {
  startMs: number;
  endMs: number;
  intervalMs: number;
  interval: string;
  /** Minutes starting at or after this have no values yet (not yet reached, or not yet ingested). */
  horizonMs: number;
  /** From the query's axis to the wall clock the version history is kept on, and back. */
  toWall(ms: number): number;
  fromWall(ms: number): number;
}

const MINUTE = 60_000;

function axis(nowMs: number, endMs: number, timeScale: number) {
  if (timeScale === 1) return { toWall: (ms: number) => ms, fromWall: (ms: number) => ms };
  return {
    toWall: (ms: number) => nowMs - (endMs - ms) / timeScale,
    fromWall: (ms: number) => endMs - (nowMs - ms) * timeScale,
  };
}

function parseWindow(req: SimRequest, nowMs: number, timeScale: number, delayMs: number): Window {
  const q = req.url.searchParams;
  const interval = q.get("interval") ?? "PT1M";
  const intervalMs = parseDuration(interval);
  if (intervalMs === undefined || intervalMs % MINUTE !== 0)
    throw badRequest(`Invalid interval '${interval}': metrics have a grain of whole minutes (PT1M and up).`);
  const endMs = q.get("endtime") ? Date.parse(q.get("endtime") ?? "") : nowMs;
  const startMs = q.get("starttime") ? Date.parse(q.get("starttime") ?? "") : endMs - 3600_000;
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || startMs >= endMs) {
    throw badRequest("Invalid time range: starttime must be before endtime.");
  }
  if ((endMs - startMs) / intervalMs > MAX_POINTS)
    throw badRequest("Too many data points requested; use a larger interval.");
  const { toWall, fromWall } = axis(nowMs, endMs, timeScale);
  return { startMs, endMs, intervalMs, interval, horizonMs: fromWall(nowMs) - delayMs, toWall, fromWall };
}

function point(values: number[], timeStamp: string, aggregations: Aggregation[]) {
  const data: Record<string, number | string> = { timeStamp };
  if (values.length === 0) return data;
  const sum = values.reduce((a, b) => a + b, 0);
  const stats: Record<Aggregation, number> = {
    average: Math.round((sum / values.length) * 100) / 100,
    minimum: Math.min(...values),
    maximum: Math.max(...values),
    total: Math.round(sum * 100) / 100,
    count: values.length,
  };
  for (const a of aggregations) data[a] = stats[a];
  return data;
}

/** One instance's minute samples in the window: minute start -> value (absent: no sample). */
function minuteSamples(fleet: Fleet, ss: ScaleSetState, instance: InstanceState, metric: string, w: Window) {
  const samples = new Map<number, number>();
  const model = fleet.state.metricsModel;
  if (!model) return samples;
  const noise = noiseSource(model, `${ss.id}/${instance.instanceId}`, metric);
  const first = Math.floor(w.startMs / w.intervalMs) * w.intervalMs;
  const end = Math.min(w.endMs, w.horizonMs);
  for (let minute = first; minute < end; minute += MINUTE) {
    // A minute shows what ran at its last instant, so the minute an upgrade finished in already
    // shows the new version; its age is taken at the minute's middle.
    const run = fleet.runningAt(instance, w.toWall(minute + MINUTE - 1));
    const behaviour =
      run === undefined || run.behaviourKey === null ? undefined : fleet.behaviourOf(run.behaviourKey);
    if (!run || !behaviour) continue;
    const ageSeconds = Math.max(0, minute + MINUTE / 2 - w.fromWall(run.sinceWallMs)) / 1000;
    const value = metricSample({
      behaviour,
      metricName: metric,
      model,
      noise,
      minuteMs: minute,
      ageSeconds,
    });
    if (value !== undefined) samples.set(minute, value);
  }
  return samples;
}

function series(
  fleet: Fleet,
  ss: ScaleSetState,
  instances: InstanceState[],
  metric: string,
  w: Window,
  aggregations: Aggregation[],
) {
  const perInstance = instances.map((instance) => minuteSamples(fleet, ss, instance, metric, w));
  const data = [];
  const first = Math.floor(w.startMs / w.intervalMs) * w.intervalMs;
  for (let t = first; t < w.endMs; t += w.intervalMs) {
    const values: number[] = [];
    for (const samples of perInstance) {
      for (let minute = t; minute < t + w.intervalMs; minute += MINUTE) {
        const value = samples.get(minute);
        if (value !== undefined) values.push(value);
      }
    }
    data.push(point(values, new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z"), aggregations));
  }
  return data;
}

function getBatch(ctx: SimContext, req: SimRequest): SimResponse {
  const [region = "", sub = ""] = req.params;
  const q = req.url.searchParams;
  const namespace = (q.get("metricnamespace") ?? "").toLowerCase();
  if (namespace !== NAMESPACE)
    throw badRequest(
      `Metric namespace '${q.get("metricnamespace")}' is not supported here; use ${NAMESPACE}.`,
    );
  const metricNames = (q.get("metricnames") ?? "")
    .split(",")
    .map((m) => m.trim())
    .filter(Boolean);
  if (metricNames.length === 0) throw badRequest("metricnames is required.");
  const unknown = metricNames.find((m) => !isKnownMetric(ctx.fleet.state, m));
  if (unknown) {
    throw badRequest(
      `Failed to find metric configuration for provider: Microsoft.Compute, resource Type: virtualMachineScaleSets, metric: ${unknown}.`,
    );
  }
  const aggregations = (q.get("aggregation") ?? "average")
    .split(",")
    .map((a) => a.trim().toLowerCase())
    .filter((a): a is Aggregation => (AGGREGATIONS as readonly string[]).includes(a));
  if (aggregations.length === 0) throw badRequest(`Invalid aggregation '${q.get("aggregation")}'.`);
  const topParam = q.get("top");
  const top = topParam === null ? 10 : Number.parseInt(topParam, 10);
  if (!Number.isInteger(top) || top < 1) throw badRequest(`Invalid top '${topParam}'.`);
  const orderDesc = /desc/i.test(q.get("orderby") ?? "");
  const split = vmNameFilter(q.get("filter"));
  const body = (req.body ?? {}) as { resourceids?: unknown };
  const ids = body.resourceids;
  if (
    !Array.isArray(ids) ||
    ids.length === 0 ||
    ids.length > 50 ||
    !ids.every((id) => typeof id === "string")
  ) {
    throw badRequest("The body must list 1 to 50 resource ids in 'resourceids'.");
  }
  const delayMs = (ctx.fleet.state.metricsModel?.ingestionDelaySeconds ?? 0) * 1000;
  const w = parseWindow(req, ctx.fleet.clock.wallNow(), ctx.fleet.clock.timeScale, delayMs);
  const scaleSets = (ids as string[]).map((id) => {
    if (!id.toLowerCase().startsWith(`/subscriptions/${sub.toLowerCase()}/`)) {
      throw badRequest(
        `Resource '${id}' is not in subscription '${sub}': all resources of a batch must share the subscription of the request.`,
      );
    }
    const ss = ctx.fleet.scaleSet(id);
    if (!ss) throw new ArmError(404, "ResourceNotFound", `The resource '${id}' was not found.`);
    if (normalizeRegion(ss.location) !== normalizeRegion(region)) {
      throw badRequest(
        `Resource '${id}' is in region '${ss.location}', not '${region}': all resources of a batch must be in the region of the endpoint.`,
      );
    }
    return { id, ss };
  });
  const values = scaleSets.map(({ id, ss }) => ({
    starttime: new Date(w.startMs).toISOString(),
    endtime: new Date(w.endMs).toISOString(),
    interval: w.interval,
    namespace: "Microsoft.Compute/virtualMachineScaleSets",
    resourceregion: ss.location,
    resourceid: id,
    value: metricNames.map((metric) => {
      let timeseries: { metadatavalues: unknown[]; data: Record<string, number | string>[] }[];
      if (split === undefined) {
        timeseries = [
          { metadatavalues: [], data: series(ctx.fleet, ss, ss.instances, metric, w, aggregations) },
        ];
      } else {
        const chosen = ss.instances.filter(
          (i) => split === "all" || split.includes(vmName(ss, i).toLowerCase()),
        );
        timeseries = chosen.map((instance) => ({
          metadatavalues: [
            { name: { value: "vmname", localizedValue: "vmname" }, value: vmName(ss, instance) },
          ],
          data: series(ctx.fleet, ss, [instance], metric, w, aggregations),
        }));
        if (orderDesc) {
          const mean = (s: (typeof timeseries)[number]) => {
            const xs = s.data
              .map((d) => d[aggregations[0] ?? "average"])
              .filter((x): x is number => typeof x === "number");
            return xs.length === 0 ? -1 : xs.reduce((a, b) => a + b, 0) / xs.length;
          };
          timeseries.sort((a, b) => mean(b) - mean(a));
        }
        timeseries = timeseries.slice(0, top);
      }
      return {
        id: `${id}/providers/Microsoft.Insights/metrics/${metric}`,
        type: "Microsoft.Insights/metrics",
        name: { value: metric, localizedValue: metric },
        displayDescription: `${metric} of the scale set's virtual machines.`,
        unit: metricUnit(metric),
        timeseries,
        errorCode: "Success",
      };
    }),
  }));
  return { status: 200, body: { values } };
}

export const metricsRoutes: Route[] = [
  route(
    "POST",
    "^/metrics/([^/]+)/subscriptions/([^/]+)/metrics(?::|%3a)getbatch$",
    "metrics.queryResources",
    getBatch,
  ),
];
