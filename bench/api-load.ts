/**
 * The API load generator, in its own process so it never shares an event loop with the daemon:
 * autocannon at a fixed overall rate of `GET /v1/rollouts/{id}` across the given ids, from the
 * moment the parent sends `{ type: "start", ids }` until it sends `{ type: "stop" }`; `{ type:
 * "ids", ids }` meanwhile replaces the ids (rollouts started since). Prints one JSON line
 * (ApiLoadResult) and exits.
 */
import autocannon, { type Result } from "autocannon";

export interface ApiLoadOptions {
  url: string;
  rate: number;
  connections: number;
}

export interface ApiLoadResult {
  requests: number;
  non2xx: number;
  errors: number;
  durationSeconds: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

const options = JSON.parse(process.argv[2] ?? "{}") as ApiLoadOptions;

let ids: string[] = [];
process.on("message", (message: { type: string; ids?: string[] }) => {
  if (message.type === "ids" && message.ids?.length) ids = message.ids;
  if (message.type !== "start" || !message.ids?.length) return;
  ids = message.ids;
  let next = 0;
  const instance = autocannon(
    {
      url: options.url,
      connections: options.connections,
      overallRate: options.rate,
      duration: 3600,
      requests: [
        {
          method: "GET",
          setupRequest: (req: Record<string, unknown>) => ({
            ...req,
            path: `/v1/rollouts/${ids[next++ % ids.length]}`,
          }),
        },
      ],
    },
    (error: Error | null, result: Result) => {
      if (error) {
        process.stderr.write(`api load failed: ${error.message}\n`);
        process.exit(1);
      }
      const { latency } = result;
      const out: ApiLoadResult = {
        requests: result.requests.total,
        non2xx: result.non2xx,
        errors: result.errors,
        durationSeconds: result.duration,
        latencyMs: {
          p50: latency.p50,
          p90: latency.p90,
          p99: latency.p99,
          max: latency.max,
          mean: latency.mean,
        },
      };
      process.stdout.write(`${JSON.stringify(out)}\n`);
      process.exit(0);
    },
  );
  process.on("message", (stop: { type: string }) => {
    if (stop.type === "stop") instance.stop();
  });
});
process.send?.({ type: "ready" });
