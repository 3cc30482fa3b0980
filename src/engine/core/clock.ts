/** The engine's source of time: injected so tests can pin it, and accelerated for a time-compressed demo. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * A clock that runs `timeScale` times faster than the wall clock from `origin` on, like the
 * simulator's fleet: a 300 s bake then lasts 5 real seconds at 60, and gate windows measured on
 * this clock cover the minutes the simulated fleet has lived through. Every process of one
 * deployment must use the same origin (see store/clock-origin.ts), or their times would disagree.
 */
export class AcceleratedClock implements Clock {
  readonly timeScale: number;
  origin: number;

  constructor(timeScale: number, origin: number = Date.now()) {
    this.timeScale = timeScale;
    this.origin = origin;
  }

  now(): Date {
    return new Date(this.origin + (Date.now() - this.origin) * this.timeScale);
  }
}

export function acceleratedClock(timeScale: number, origin?: number): AcceleratedClock {
  return new AcceleratedClock(timeScale, origin);
}
