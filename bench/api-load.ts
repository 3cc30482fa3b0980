/**
 * The API load generator, in its own process so it never shares an event loop with the daemon:
 * autocannon at a fixed overall rate of `GET /v1/rollouts/{id}` across the given ids, from the
 * moment the parent sends `{ type: "start", ids }` until it sends `{ type: "stop" }`; `{ type:
 * "ids", ids }` meanwhile replaces the ids (rollouts started since). With `listRate`, a second
 * autocannon reads the list (`GET /v1/rollouts?limit=20`, the dashboard's first page) at that rate
 * beside it, measured apart (`list`). Prints one JSON line (ApiLoadResult) and exits.
 */
import autocannon, { type Result } from "autocannon";

export interface ApiLoadOptions {
  url: string;
  rate: number;
  connections: number;
  /** Requests per second of `GET /v1/rollouts?limit=20` beside the detail reads (0 or absent: none). */
  listRate?: number;
}

interface LoadFigures {
  requests: number;
  non2xx: number;
  errors: number;
  durationSeconds: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

export interface ApiLoadResult extends LoadFigures {
  /** The list reads, when `listRate` was given. */
  list?: LoadFigures;
}

function figures(result: Result): LoadFigures {
  const { latency } = result;
  return {
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    durationSeconds: result.duration,
    latencyMs: { p50: latency.p50, p90: latency.p90, p99: latency.p99, max: latency.max, mean: latency.mean },
  };
}

/** Runs one autocannon until stopped; resolves with its result. */
function load(
  settings: { connections: number; rate: number },
  path: () => string,
): { done: Promise<Result>; stop(): void } {
  let stop = () => {};
  const done = new Promise<Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: settings.connections,
        overallRate: settings.rate,
        duration: 3600,
        requests: [
          { method: "GET", setupRequest: (req: Record<string, unknown>) => ({ ...req, path: path() }) },
        ],
      },
      (error: Error | null, result: Result) => (error ? reject(error) : resolve(result)),
    );
    stop = () => instance.stop();
  });
  return { done, stop: () => stop() };
}

const options = JSON.parse(process.argv[2] ?? "{}") as ApiLoadOptions;

let ids: string[] = [];
process.on("message", (message: { type: string; ids?: string[] }) => {
  if (message.type === "ids" && message.ids?.length) ids = message.ids;
  if (message.type !== "start" || !message.ids?.length) return;
  ids = message.ids;
  let next = 0;
  const detail = load({ connections: options.connections, rate: options.rate }, () => {
    const id = ids[next++ % ids.length];
    return `/v1/rollouts/${id}`;
  });
  const list = options.listRate
    ? load({ connections: 5, rate: options.listRate }, () => "/v1/rollouts?limit=20")
    : undefined;
  Promise.all([detail.done, list?.done])
    .then(([detailResult, listResult]) => {
      const out: ApiLoadResult = figures(detailResult);
      if (listResult) out.list = figures(listResult);
      process.stdout.write(`${JSON.stringify(out)}\n`);
      process.exit(0);
    })
    .catch((error: Error) => {
      process.stderr.write(`api load failed: ${error.message}\n`);
      process.exit(1);
    });
  process.on("message", (stop: { type: string }) => {
    if (stop.type !== "stop") return;
    detail.stop();
    list?.stop();
  });
});
process.send?.({ type: "ready" });
