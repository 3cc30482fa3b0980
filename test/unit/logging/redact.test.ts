import { describe, expect, it } from "vitest";
import { errorMessage, redactSecrets, redactUrl } from "../../../src/logging/redact.ts";

describe("secrets never leave the process", () => {
  it("drops the query string of a URL (a SAS signature)", () => {
    const text = "GET https://acct.blob.core.windows.net/logs/x.log?sv=2024-01-01&sig=abc%2F123 failed";
    expect(redactSecrets(text)).toBe("GET https://acct.blob.core.windows.net/logs/x.log?[redacted] failed");
  });

  it("drops bearer tokens and signature parameters outside URLs", () => {
    expect(redactSecrets("Authorization: Bearer eyJ0eXAi.abc.def")).toBe("Authorization: Bearer [redacted]");
    expect(redactSecrets("sig=abcdef&x=1")).toBe("sig=[redacted]&x=1");
  });

  it("keeps JSON valid when applied to its text", () => {
    const json = JSON.stringify({ url: "https://h/p?sig=s3cret", note: 'a "quoted" word' });
    const parsed = JSON.parse(redactSecrets(json)) as { url: string; note: string };
    expect(parsed.url).toBe("https://h/p?[redacted]");
    expect(parsed.note).toBe('a "quoted" word');
  });

  it("bounds and redacts the message of anything thrown", () => {
    expect(errorMessage(new Error("x".repeat(5000)))).toHaveLength(2000);
    expect(errorMessage("token=abc")).toBe("token=[redacted]");
  });
});

describe("URL passwords and resource URLs", () => {
  it("drops the password of a Redis URL", () => {
    expect(redactSecrets("connect rediss://:hunter2@cache:6380 failed")).toBe(
      "connect rediss://:[redacted]@cache:6380 failed",
    );
  });

  it("names a resource URL by origin and path only", () => {
    expect(redactUrl("https://acct.blob.core.windows.net/logs/x.log?sv=1&sig=abc#frag")).toBe(
      "https://acct.blob.core.windows.net/logs/x.log",
    );
  });
});

describe("webhook gate secrets in log objects", () => {
  it("redacts the configured secrets wherever the gates settings are logged", async () => {
    // Mutation: the `secrets` paths dropped from redactPaths.
    const { createLogger } = await import("../../../src/logging/logger.ts");
    const { PassThrough } = await import("node:stream");
    const stream = new PassThrough();
    const lines: string[] = [];
    stream.on("data", (chunk: Buffer) => lines.push(chunk.toString()));
    const logger = createLogger({ level: "info", format: "json", destination: stream });
    const secrets = { "check-token": "s3cr3t-value" };
    logger.info({ secrets }, "a");
    logger.info({ webhook: { secrets } }, "b");
    logger.info({ gates: { webhook: { secrets } } }, "c");
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).not.toContain("s3cr3t");
  });
});
