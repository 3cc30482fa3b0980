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
  /** Simulated milliseconds since the scenario was loaded, when the request arrived. */
  simulatedMs: number;
  durationMs: number;
}

/** Filters of `entries`: all given must hold. */
export interface RequestLogFilter {
  operation?: string;
  /** Wall-clock ISO time: entries that arrived at or after it. */
  since?: string;
  /** Simulated ms: entries that arrived at or after it. */
  sinceSimulatedMs?: number;
  /** A scale set name or ARM id: requests to that scale set or anything under it (its VMs). */
  scaleSet?: string;
  method?: string;
}

/** The scale set a request path names, lowercased (`…/virtualMachineScaleSets/{name}[/…]`). */
export function scaleSetOfPath(path: string): { id: string; name: string } | undefined {
  const match = /^(.*\/virtualmachinescalesets\/([^/]+))(?:\/|$)/i.exec(path);
  if (!match?.[1] || !match[2]) return undefined;
  return { id: decodeURIComponent(match[1]).toLowerCase(), name: decodeURIComponent(match[2]).toLowerCase() };
}

function matches(e: RequestLogEntry, filter: RequestLogFilter): boolean {
  if (filter.operation && e.operation !== filter.operation) return false;
  if (filter.method && e.method.toUpperCase() !== filter.method.toUpperCase()) return false;
  if (filter.since && e.time < filter.since) return false;
  if (filter.sinceSimulatedMs !== undefined && e.simulatedMs < filter.sinceSimulatedMs) return false;
  if (filter.scaleSet) {
    const target = scaleSetOfPath(e.path);
    const wanted = filter.scaleSet.toLowerCase();
    if (!target || (target.id !== wanted && target.name !== wanted)) return false;
  }
  return true;
}

export class RequestLog {
  readonly #entries: RequestLogEntry[] = [];
  readonly #capacity: number;
  readonly #listeners: ((entry: RequestLogEntry) => void)[] = [];

  constructor(capacity = 100_000) {
    this.#capacity = capacity;
  }

  add(entry: RequestLogEntry): void {
    this.#entries.push(entry);
    if (this.#entries.length > this.#capacity) this.#entries.splice(0, this.#entries.length - this.#capacity);
    for (const listener of this.#listeners) listener(entry);
  }

  /** Called with every entry as it is logged (after the response was sent): scenario triggers. */
  onEntry(listener: (entry: RequestLogEntry) => void): void {
    this.#listeners.push(listener);
  }

  entries(filter: RequestLogFilter = {}): RequestLogEntry[] {
    return this.#entries.filter((e) => matches(e, filter));
  }

  clear(): void {
    this.#entries.length = 0;
  }
}
