import { describe, expect, it } from "vitest";
import { judgeBootLogs } from "../../../src/gates/boot-diagnostics/judge.ts";

const measuredAt = "2026-11-27T12:00:00.000Z";
const source = "https://logs.example/bootdiagnostics/web-a/0/serialconsole.log";
const clean = [
  "[    0.000000] Linux version 6.8.0-1015-azure",
  "[  OK  ] Reached target Local File Systems.",
  "[  OK  ] Started OpenBSD Secure Shell server.",
  "Cloud-init v. 24.1 finished at Fri, 27 Nov 2026 12:00:00 +0000. Up 12.3 seconds",
].join("\n");

describe("bootDiagnostics gate", () => {
  it("passes clean serial logs", () => {
    const result = judgeBootLogs({
      instanceIds: ["0"],
      logs: [{ instanceId: "0", text: clean, source }],
      failOn: [],
      measuredAt,
    });
    expect(result.verdict).toBe("passed");
    expect(result.evidence.clean).toEqual(["0"]);
  });

  it.each([
    [
      "kernel panic",
      "[    3.101] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)",
    ],
    [
      "emergency mode",
      'You are in emergency mode. After logging in, type "journalctl -xb" to view system logs',
    ],
    ["failed systemd unit", "[FAILED] Failed to start nginx.service - A high performance web server."],
    ["failed systemd unit", "Failed to start Load Kernel Modules."],
    [
      "cloud-init error",
      "cloud-init[812]: 2026-11-27 12:00:01,000 - util.py[ERROR]: Failed running /var/lib/cloud/scripts",
    ],
  ])("fails on %s with the matched line and instance as evidence", (pattern, line) => {
    const text = `${clean}\n${line}\n`;
    const result = judgeBootLogs({
      instanceIds: ["0", "2"],
      logs: [
        { instanceId: "0", text: clean, source },
        { instanceId: "2", text, source },
      ],
      failOn: [],
      measuredAt,
    });
    expect(result.verdict).toBe("failed");
    expect(result.evidence.matches).toEqual([{ instanceId: "2", pattern, lineNumber: 5, line: line.trim() }]);
    expect(result.summary).toContain("instance 2");
  });

  it("adds the spec's failOn patterns to the defaults", () => {
    const text = `${clean}\napp[42]: FATAL config missing`;
    const result = judgeBootLogs({
      instanceIds: ["0"],
      logs: [{ instanceId: "0", text, source }],
      failOn: ["FATAL config"],
      measuredAt,
    });
    expect(result.verdict).toBe("failed");
    expect(result.evidence.matches).toMatchObject([
      { pattern: "failOn /FATAL config/", line: "app[42]: FATAL config missing" },
    ]);
  });

  it("is inconclusive when a log cannot be downloaded, and keeps the SAS token out of the evidence", () => {
    const error =
      "download of https://logs.example/x/serialconsole.log?sv=2024&sig=SECRETSIG failed: HTTP 403";
    const result = judgeBootLogs({
      instanceIds: ["0"],
      logs: [{ instanceId: "0", error }],
      failOn: [],
      measuredAt,
    });
    expect(result.verdict).toBe("inconclusive");
    const serialized = JSON.stringify(result);
    expect(serialized).not.toContain("SECRETSIG");
    expect(serialized).not.toContain("sv=2024");
    expect(result.summary).toContain("https://logs.example/x/serialconsole.log");
  });

  it("redacts a SAS URL that appears in a matched log line", () => {
    const text = "[FAILED] Failed to start fetch from https://acct.blob.core.windows.net/c/b?sig=SECRETSIG";
    const result = judgeBootLogs({
      instanceIds: ["0"],
      logs: [{ instanceId: "0", text, source }],
      failOn: [],
      measuredAt,
    });
    expect(result.verdict).toBe("failed");
    expect(JSON.stringify(result)).not.toContain("SECRETSIG");
  });

  it("treats an instance whose log was not read as inconclusive, never passed", () => {
    const result = judgeBootLogs({
      instanceIds: ["0", "2"],
      logs: [{ instanceId: "0", text: clean, source }],
      failOn: [],
      measuredAt,
    });
    expect(result.verdict).toBe("inconclusive");
    expect(result.summary).toContain("2: not read");
  });

  it("still fails on a broken boot when another instance's log is unreadable", () => {
    const result = judgeBootLogs({
      instanceIds: ["0", "2"],
      logs: [
        { instanceId: "0", error: "HTTP 500" },
        { instanceId: "2", text: "Kernel panic - not syncing: Attempted to kill init!", source },
      ],
      failOn: [],
      measuredAt,
    });
    expect(result.verdict).toBe("failed");
  });

  it("reports an invalid failOn pattern as inconclusive instead of throwing", () => {
    const result = judgeBootLogs({
      instanceIds: ["0"],
      logs: [{ instanceId: "0", text: clean, source }],
      failOn: ["(unclosed"],
      measuredAt,
    });
    expect(result.verdict).toBe("inconclusive");
    expect(result.evidence.invalidPatterns).toEqual(["(unclosed"]);
  });
});
