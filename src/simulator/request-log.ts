/** The request log: what the simulator answered, so tests and the benchmark can count ARM calls by operation. */
export interface RequestLogEntry {
  method: string;
  /** Path without the query string (SAS signatures and tokens never appear here). */
  path: string;
  /** SDK-style operation name, e.g. `virtualMachineScaleSets.updateInstances`. */
  operation: string;
  status: number;
  /** Wall-clock ISO time the request arrived. */
  time: string;
  durationMs: number;
}

export class RequestLog {
  readonly #entries: RequestLogEntry[] = [];
  readonly #capacity: number;

  constructor(capacity = 100_000) {
    this.#capacity = capacity;
  }

  add(entry: RequestLogEntry): void {
    this.#entries.push(entry);
    if (this.#entries.length > this.#capacity) this.#entries.splice(0, this.#entries.length - this.#capacity);
  }

  entries(filter: { operation?: string; since?: string } = {}): RequestLogEntry[] {
    return this.#entries.filter(
      (e) =>
        (!filter.operation || e.operation === filter.operation) && (!filter.since || e.time >= filter.since),
    );
  }

  clear(): void {
    this.#entries.length = 0;
  }
}
