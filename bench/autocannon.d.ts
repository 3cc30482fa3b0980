/** The part of autocannon's API the benchmark uses (the package ships no types). */
declare module "autocannon" {
  export interface Request {
    method?: string;
    path?: string;
    setupRequest?: (request: Record<string, unknown>) => Record<string, unknown>;
  }
  export interface Options {
    url: string;
    connections?: number;
    overallRate?: number;
    duration?: number;
    requests?: Request[];
  }
  export interface Histogram {
    mean: number;
    max: number;
    p50: number;
    p90: number;
    p99: number;
  }
  export interface Result {
    requests: { total: number };
    latency: Histogram;
    non2xx: number;
    errors: number;
    duration: number;
  }
  export interface Instance {
    stop(): void;
  }
  function autocannon(options: Options, done: (error: Error | null, result: Result) => void): Instance;
  export default autocannon;
}
