import { describe, expect, it, vi } from "vitest";
import { acceleratedClock } from "../../../src/engine/core/clock.ts";

describe("the accelerated clock", () => {
  it("runs timeScale times faster than the wall clock from its origin", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      const clock = acceleratedClock(60);
      expect(clock.now().getTime()).toBe(1_000_000);
      vi.advanceTimersByTime(1_000);
      expect(clock.now().getTime()).toBe(1_060_000);
    } finally {
      vi.useRealTimers();
    }
  });
});
