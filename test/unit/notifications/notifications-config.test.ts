/**
 * The notifications configuration refuses what cannot work at start, naming the key: retired
 * Office 365 connector URLs for Teams, secrets that are not configured, hosts not allowed, unknown
 * services and triggers. Secret values never appear in a refusal.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/config/load-config.ts";

function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const file = join(mkdtempSync(join(tmpdir(), "canaryd-notify-")), "c.yaml");
  writeFileSync(file, yaml);
  return loadConfig({ env: { CANARYD_CONFIG: file, ...env } });
}

function refusal(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected the configuration to be refused");
}

const teams = (url: string) =>
  [
    "notifications:",
    "  allowedHosts: ['prod-12.westeurope.logic.azure.com', 'contoso.webhook.office.com', 'outlook.office.com']",
    "  services:",
    "    ops:",
    "      kind: teams",
    "      urlSecret: teams-url",
    "  subscriptions:",
    "    - name: ops",
    "      service: ops",
    "      triggers: [rolloutFailed]",
    "  secrets:",
    `    teams-url: '${url}'`,
    "",
  ].join("\n");

describe("notifications configuration", () => {
  it("accepts a Teams Workflows URL and parses defaults", () => {
    const config = load(
      teams(
        "https://prod-12.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3t",
      ),
    );
    expect(config.notifications.maxRetrySeconds).toBe(86_400);
    expect(config.notifications.subscriptions[0]).toMatchObject({
      minSeverity: "info",
      match: { labels: {}, scaleSets: [] },
    });
  });

  // Mutation: drop retiredTeamsConnector's check -> these load.
  it.each([
    "https://contoso.webhook.office.com/webhookb2/aaa@bbb/IncomingWebhook/ccc/ddd",
    "https://outlook.office.com/webhook/aaa@bbb/IncomingWebhook/ccc/ddd",
  ])("refuses the retired Office 365 connector URL %s, naming the key and saying why", (url) => {
    const error = refusal(() => load(teams(url)));
    expect(error.key).toBe("notifications.services.ops.urlSecret");
    expect(error.message).toMatch(/Office 365 connector.*retired.*Workflows/);
    // The URL is a credential: not echoed. Mutation: put the URL in the message -> found.
    expect(error.message).not.toContain("IncomingWebhook");
  });

  // Mutation: skip the secret-name check -> a webhook that would sign with "" loads.
  it("refuses a service naming a secret that is not configured", () => {
    const error = refusal(() =>
      load(
        [
          "notifications:",
          "  allowedHosts: ['hooks.example.com']",
          "  services:",
          "    hook: { kind: webhook, url: 'https://hooks.example.com/in', signingSecret: missing }",
          "",
        ].join("\n"),
      ),
    );
    expect(error.key).toBe("notifications.services.hook.signingSecret");
    expect(error.message).toContain("names secret missing");
  });

  // Mutation: skip the allowedHosts check at load -> loads (and fails only at the first send).
  it("refuses a service whose host is not in notifications.allowedHosts", () => {
    const error = refusal(() =>
      load(
        [
          "notifications:",
          "  services:",
          "    hook: { kind: webhook, url: 'https://hooks.example.com/in', signingSecret: s }",
          "  secrets: { s: 'value-of-s' }",
          "",
        ].join("\n"),
      ),
    );
    expect(error.key).toBe("notifications.services.hook.url");
    expect(error.message).toContain("not in notifications.allowedHosts");
  });

  it("refuses an unknown trigger and a subscription to an unknown service, naming each", () => {
    const base = ["notifications:", "  subscriptions:"];
    expect(
      refusal(() =>
        load([...base, "    - { name: a, service: x, triggers: [rolloutExploded] }", ""].join("\n")),
      ).key,
    ).toBe("notifications.subscriptions.0.triggers.0");
    expect(
      refusal(() =>
        load([...base, "    - { name: a, service: x, triggers: [rolloutFailed] }", ""].join("\n")),
      ).key,
    ).toBe("notifications.subscriptions.0.service");
  });

  // Mutation: drop the notifications.secrets check in validate() -> the value is echoed.
  it("never shows a secret's value in a refusal", () => {
    const error = refusal(() =>
      load(["notifications:", "  secrets:", "    'bad name!': 'super-secret-value'", ""].join("\n")),
    );
    expect(error.message).not.toContain("super-secret-value");
  });

  it("takes secrets from CANARYD_NOTIFICATION_SECRETS", () => {
    const config = load("", { CANARYD_NOTIFICATION_SECRETS: "hook=abc123" });
    expect(config.notifications.secrets).toEqual({ hook: "abc123" });
  });
});
