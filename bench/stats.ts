/** Order statistics the report uses (nearest-rank percentiles). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export const median = (values: readonly number[]) => percentile(values, 50);

export function summary(values: readonly number[]): { n: number; median: number; p99: number; max: number } {
  return {
    n: values.length,
    median: round(median(values)),
    p99: round(percentile(values, 99)),
    max: round(percentile(values, 100)),
  };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
