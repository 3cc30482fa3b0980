/**
 * The bootDiagnostics gate: read each instance's serial console log and fail on lines that show
 * a broken boot. The matched line is the evidence. A log that cannot be read makes the gate
 * inconclusive, never passed; SAS query strings never reach the evidence.
 */

import type { GateJudgement } from "../../domain/effects.ts";
import { redactSecrets } from "../../logging/redact.ts";

export interface BootPattern {
  name: string;
  pattern: RegExp;
}

/** What a broken Linux boot prints on the serial console. */
export const defaultBootFailurePatterns: readonly BootPattern[] = [
  { name: "kernel panic", pattern: /Kernel panic - not syncing|\bkernel panic\b/i },
  { name: "emergency mode", pattern: /You are in emergency mode|Entering emergency mode|emergency\.target/i },
  { name: "failed systemd unit", pattern: /\[\s*FAILED\s*\]|Failed to start / },
  {
    name: "cloud-init error",
    pattern: /cloud-init.*\b(ERROR|CRITICAL|Traceback)\b|Failed to run module|cloud-init.*\bfailed\b/i,
  },
];

export type SerialLogRead =
  | { instanceId: string; text: string; source: string }
  | { instanceId: string; error: string };

export interface BootLogMatch {
  instanceId: string;
  pattern: string;
  lineNumber: number;
  line: string;
}

export interface BootDiagnosticsInput {
  instanceIds: string[];
  logs: SerialLogRead[];
  /** The spec's extra patterns (regular expressions). */
  failOn: string[];
  measuredAt: string;
}

const maxLineLength = 500;

/** Compiles the spec's patterns after the defaults; an invalid one is reported, not thrown. */
export function bootPatterns(failOn: string[]): { patterns: BootPattern[]; invalid: string[] } {
  const patterns = [...defaultBootFailurePatterns];
  const invalid: string[] = [];
  for (const source of failOn) {
    try {
      patterns.push({ name: `failOn /${source}/`, pattern: new RegExp(source) });
    } catch {
      invalid.push(source);
    }
  }
  return { patterns, invalid };
}

/** The first line of `text` matching any pattern (defaults first, then the spec's). */
export function findBootFailure(
  text: string,
  patterns: readonly BootPattern[],
): Omit<BootLogMatch, "instanceId"> | undefined {
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    for (const { name, pattern } of patterns) {
      if (pattern.test(line))
        return {
          pattern: name,
          lineNumber: index + 1,
          line: redactSecrets(line.trim()).slice(0, maxLineLength),
        };
    }
  }
  return undefined;
}

export function judgeBootLogs(input: BootDiagnosticsInput): GateJudgement {
  const { patterns, invalid } = bootPatterns(input.failOn);
  const matches: BootLogMatch[] = [];
  const unreadable: { instanceId: string; error: string }[] = [];
  const clean: string[] = [];
  for (const log of input.logs) {
    if ("error" in log) {
      unreadable.push({ instanceId: log.instanceId, error: redactSecrets(log.error) });
      continue;
    }
    const match = findBootFailure(log.text, patterns);
    if (match) matches.push({ instanceId: log.instanceId, ...match });
    else clean.push(log.instanceId);
  }
  const evidence = {
    patterns: patterns.map((pattern) => pattern.name),
    invalidPatterns: invalid,
    matches,
    unreadable,
    clean,
  };
  const base = {
    gate: "bootDiagnostics" as const,
    measuredAt: input.measuredAt,
    instanceIds: input.instanceIds,
    evidence,
  };
  if (matches.length > 0) {
    const first = matches[0] as BootLogMatch;
    return {
      ...base,
      verdict: "failed",
      summary: `${matches.length} of ${input.instanceIds.length} instances show a failed boot; instance ${first.instanceId}: ${first.pattern}: "${first.line}"`,
    };
  }
  if (invalid.length > 0)
    return {
      ...base,
      verdict: "inconclusive",
      summary: `failOn patterns are not valid regular expressions: ${invalid.join(", ")}`,
    };
  const missing = input.instanceIds.filter((id) => !input.logs.some((log) => log.instanceId === id));
  if (unreadable.length > 0 || missing.length > 0) {
    const reasons = [
      ...unreadable.map((entry) => `${entry.instanceId}: ${entry.error}`),
      ...missing.map((id) => `${id}: not read`),
    ];
    return {
      ...base,
      verdict: "inconclusive",
      summary: `serial console log unreadable for ${unreadable.length + missing.length} of ${input.instanceIds.length} instances: ${reasons.join("; ")}`,
    };
  }
  return { ...base, verdict: "passed", summary: `${clean.length} serial console logs show a clean boot` };
}
