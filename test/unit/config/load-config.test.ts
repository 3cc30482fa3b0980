import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/config/load-config.ts";

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "canaryd-config-")), name);
  writeFileSync(path, text);
  return path;
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

describe("configuration", () => {
  it("starts from config/default.yaml when nothing overrides it", () => {
    const config = loadConfig({ env: {} });
    expect(config.server.port).toBe(8080);
    expect(config.redis.url).toBeNull();
    expect(config.redis.keyPrefix).toBe("{canaryd}");
    expect(config.auth.disabled).toBe(false);
  });

  it("layers a file over the defaults and environment variables over the file", () => {
    const file = tempFile("c.yaml", "server:\n  port: 9000\n  host: 0.0.0.0\nlog:\n  level: debug\n");
    const config = loadConfig({
      env: { CANARYD_CONFIG: file, PORT: "9100", REDIS_URL: "rediss://:pw@cache:6380" },
    });
    expect(config.server.port).toBe(9100);
    expect(config.server.host).toBe("0.0.0.0");
    expect(config.log.level).toBe("debug");
    expect(config.redis.url).toBe("rediss://:pw@cache:6380");
  });

  it("refuses a bad value with one message naming the key, the value and the rule", () => {
    const error = refusal(() => loadConfig({ env: { PORT: "99999" } }));
    expect(error.key).toBe("server.port");
    expect(error.message).toMatch(/server\.port = 99999: .*65535/);
  });

  it("defaults retention to one day and 400 days, and refuses a retention that is not a positive whole number", () => {
    // Mutation: drop .int() or .positive() from retention.* in src/config/schema.ts -> 0, -5 or 1.5 accepted.
    const defaults = loadConfig({ env: {} });
    expect(defaults.retention).toEqual({ compactAfterSeconds: 86_400, recordDays: 400 });
    const set = loadConfig({
      file: tempFile("c.yaml", "retention:\n  compactAfterSeconds: 3600\n  recordDays: 30\n"),
      env: {},
    });
    expect(set.retention).toEqual({ compactAfterSeconds: 3600, recordDays: 30 });
    for (const [key, value] of [
      ["compactAfterSeconds", "0"],
      ["compactAfterSeconds", "1.5"],
      ["recordDays", "-5"],
      ["recordDays", '"forever"'],
    ] as const) {
      const file = tempFile("c.yaml", `retention:\n  ${key}: ${value}\n`);
      const error = refusal(() => loadConfig({ file, env: {} }));
      expect(error.key).toBe(`retention.${key}`);
      expect(error.message).toMatch(
        new RegExp(`retention\\.${key} = .*: a whole number of (seconds|days), at least 1`),
      );
    }
  });

  it("refuses an unknown key in a configuration file, naming it", () => {
    const file = tempFile("c.yaml", "engine:\n  workerConcurency: 3\n");
    const error = refusal(() => loadConfig({ file, env: {} }));
    expect(error.message).toContain("engine");
    expect(error.message).toContain("workerConcurency");
  });

  it("never prints a secret value when refusing it", () => {
    const error = refusal(() => loadConfig({ env: { REDIS_URL: "http://user:hunter2@cache" } }));
    expect(error.key).toBe("redis.url");
    expect(error.message).not.toContain("hunter2");
  });

  it("reads API tokens from CANARYD_API_TOKENS as name:role:sha256", () => {
    const sha = "a".repeat(64);
    const config = loadConfig({ env: { CANARYD_API_TOKENS: `ci:deployer:${sha}, pager:oncall:${sha}` } });
    expect(config.auth.tokens).toEqual([
      { name: "ci", role: "deployer", sha256: sha },
      { name: "pager", role: "oncall", sha256: sha },
    ]);
  });

  it("reads Redis Cluster nodes from CANARYD_REDIS_CLUSTER_NODES, comma-separated", () => {
    const config = loadConfig({ env: { CANARYD_REDIS_CLUSTER_NODES: "10.0.0.1:7000, 10.0.0.2:7001" } });
    expect(config.redis.clusterNodes).toEqual(["10.0.0.1:7000", "10.0.0.2:7001"]);
    expect(loadConfig({ env: {} }).redis.clusterNodes).toEqual([]);
  });

  it("refuses a key prefix that is not a hash tag on a Redis Cluster, naming the key", () => {
    const error = refusal(() =>
      loadConfig({
        env: { CANARYD_REDIS_CLUSTER_NODES: "10.0.0.1:7000", CANARYD_REDIS_KEY_PREFIX: "canaryd" },
      }),
    );
    expect(error.key).toBe("redis.keyPrefix");
    expect(error.message).toMatch(/redis\.keyPrefix = "canaryd": .*hash tag.*redis\.clusterNodes/);
    // The same prefix is fine on one node, where there are no slots.
    expect(loadConfig({ env: { CANARYD_REDIS_KEY_PREFIX: "canaryd" } }).redis.keyPrefix).toBe("canaryd");
  });

  it("reads engine.queueShards from CANARYD_QUEUE_SHARDS, 1 (one queue, the layout before shards) by default", () => {
    expect(loadConfig({ env: {} }).engine.queueShards).toBe(1);
    expect(loadConfig({ env: { CANARYD_QUEUE_SHARDS: "3" } }).engine.queueShards).toBe(3);
    const error = refusal(() => loadConfig({ env: { CANARYD_QUEUE_SHARDS: "0" } }));
    expect(error.message).toContain("engine.queueShards");
  });

  it("refuses a Redis Cluster node that is not host:port", () => {
    const error = refusal(() => loadConfig({ env: { CANARYD_REDIS_CLUSTER_NODES: "10.0.0.1" } }));
    expect(error.key).toBe("redis.clusterNodes.0");
  });

  it("reads a sovereign cloud's metrics audience and authority host, public Azure's by default", () => {
    expect(loadConfig({ env: {} }).azure).toMatchObject({
      metricsAudience: "https://metrics.monitor.azure.com",
      authorityHost: "https://login.microsoftonline.com",
    });
    const config = loadConfig({
      env: {
        CANARYD_AZURE_METRICS_AUDIENCE: "https://metrics.monitor.azure.us",
        CANARYD_AZURE_AUTHORITY_HOST: "https://login.microsoftonline.us",
      },
    });
    expect(config.azure).toMatchObject({
      metricsAudience: "https://metrics.monitor.azure.us",
      authorityHost: "https://login.microsoftonline.us",
    });
    expect(() => loadConfig({ env: { CANARYD_AZURE_AUTHORITY_HOST: "http://login.example" } })).toThrow(
      /azure\.authorityHost/,
    );
  });

  it("uses a simulator connection file when CANARYD_AZURE_CONNECTION_FILE names one", () => {
    const config = loadConfig({ env: { CANARYD_AZURE_CONNECTION_FILE: "var/simulator.json" } });
    expect(config.azure.credential).toBe("connectionFile");
    expect(config.azure.connectionFile).toBe("var/simulator.json");
  });
});
