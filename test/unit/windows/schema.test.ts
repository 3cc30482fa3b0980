/** Configuration of windows and freezes: a bad entry is refused at start with its key named. */

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/config/load-config.ts";

function loadWith(yaml: string): unknown {
  const dir = mkdtempSync(join(tmpdir(), "canaryd-windows-"));
  const file = join(dir, "config.yaml");
  writeFileSync(file, yaml);
  return loadConfig({ file, env: {} });
}

function refusal(yaml: string): ConfigError {
  try {
    loadWith(yaml);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("configuration was accepted");
}

const window = (extra: string) => `windows:\n  - name: w\n    kind: deny\n${extra}`;

describe("windows and freezes in configuration", () => {
  it("accepts a valid window and freeze, with defaults", () => {
    const config = loadWith(
      `${window("    schedule: '0 22 * * 5'\n    durationSeconds: 3600\n    timeZone: Europe/Berlin\n")}freezes:\n  - { start: '2026-12-20T00:00:00Z', end: '2027-01-04T00:00:00Z', reason: holidays }\n`,
    ) as { windows: { match: unknown }[]; freezes: unknown[] };
    expect(config.windows[0]?.match).toEqual({ labels: {}, scaleSets: [] });
    expect(config.freezes).toHaveLength(1);
  });

  it("refuses an invalid cron pattern, naming windows.0.schedule", () => {
    // Mutation: the cron check removed from the schema -> accepted -> fails.
    const error = refusal(window("    schedule: '61 * * * *'\n    durationSeconds: 60\n"));
    expect(error.key).toBe("windows.0.schedule");
    expect(error.message).toMatch(/minute/);
  });

  it("refuses a cron pattern that never fires", () => {
    // Mutation: nextRun() === null not checked -> accepted -> fails.
    expect(refusal(window("    schedule: '0 0 30 2 *'\n    durationSeconds: 60\n")).message).toMatch(
      /never fires/,
    );
  });

  it("refuses an unknown time zone, naming windows.0.timeZone", () => {
    // Mutation: the Intl check removed (croner accepts any name) -> accepted -> fails.
    const error = refusal(
      window("    schedule: '0 1 * * *'\n    durationSeconds: 60\n    timeZone: Mars/Olympus\n"),
    );
    expect(error.key).toBe("windows.0.timeZone");
    expect(error.message).toMatch(/unknown time zone/);
  });

  it("refuses a zero-length window, naming windows.0.durationSeconds", () => {
    // Mutation: durationSeconds min(0) -> accepted -> fails.
    const error = refusal(window("    schedule: '0 1 * * *'\n    durationSeconds: 0\n"));
    expect(error.key).toBe("windows.0.durationSeconds");
    expect(error.message).toMatch(/zero-length/);
  });

  it("refuses a zero-length freeze, naming freezes.0.end", () => {
    // Mutation: the end > start refinement removed -> accepted -> fails.
    const error = refusal(
      "freezes:\n  - { start: '2026-12-20T00:00:00Z', end: '2026-12-20T00:00:00Z', reason: holidays }\n",
    );
    expect(error.key).toBe("freezes.0.end");
  });
});
