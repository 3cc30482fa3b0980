import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../../src/cli/client/duration.ts";

describe("durations on the command line", () => {
  it.each([
    ["90", 90_000],
    ["90s", 90_000],
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["1.5m", 90_000],
    ["250ms", 250],
    [" 10S ", 10_000],
  ])("reads %s as %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "m", "5 minutes", "-5m", "5x", "1h 30m", "abc", "1e3"])("refuses %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it("prints durations the way they are typed", () => {
    expect(formatDuration(45_000)).toBe("45s");
    expect(formatDuration(90_000)).toBe("1m30s");
    expect(formatDuration(7_200_000)).toBe("2h");
    expect(formatDuration(5_400_000)).toBe("1h30m");
  });
});
