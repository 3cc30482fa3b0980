/**
 * Simulated time. Durations in the simulation (upgrades, replication) run `timeScale` times faster
 * than the wall clock; timestamps the simulator reports stay on the wall clock so metric windows
 * line up with the caller's clock. Simulated time continues from the persisted value on restart.
 */
export class SimClock {
  readonly timeScale: number;
  readonly #startSimMs: number;
  readonly #startWallMs: number;
  readonly #now: () => number;

  constructor(options: { timeScale: number; startSimMs?: number; now?: () => number }) {
    if (!(options.timeScale > 0)) throw new RangeError("timeScale must be > 0");
    this.timeScale = options.timeScale;
    this.#now = options.now ?? Date.now;
    this.#startSimMs = options.startSimMs ?? 0;
    this.#startWallMs = this.#now();
  }

  wallNow(): number {
    return this.#now();
  }

  /** Milliseconds of simulated time since the scenario was first loaded. */
  simNow(): number {
    return this.#startSimMs + (this.#now() - this.#startWallMs) * this.timeScale;
  }

  /** The wall-clock instant at which a simulated instant happens (or happened). */
  wallAt(simMs: number): number {
    return this.#now() - (this.simNow() - simMs) / this.timeScale;
  }
}
