import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { isProcessAlive, type PrivateRedis, startPrivateRedis } from "../../../src/daemon/private-redis.ts";

const started: PrivateRedis[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((redis) => redis.stop()));
});

async function start(dataDir: string): Promise<PrivateRedis> {
  const redis = await startPrivateRedis({ dataDir });
  started.push(redis);
  return redis;
}

describe("private redis", () => {
  it("starts a redis-server on loopback with its append-only file under the data directory", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "canaryd-redis-"));
    const redis = await start(dataDir);
    const client = new Redis(redis.url);
    try {
      await client.set("k", "v");
      expect(await client.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
      expect(await client.config("GET", "dir")).toEqual(["dir", dataDir]);
    } finally {
      client.disconnect();
    }
    expect(readFileSync(join(dataDir, "redis.port"), "utf8")).toBe(String(redis.port));
  });

  it("reuses the Redis a killed daemon left behind instead of starting a second one", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "canaryd-redis-"));
    const first = await startPrivateRedis({ dataDir });
    const second = await start(dataDir);
    expect(second.reused).toBe(true);
    expect(second.pid).toBe(first.pid);
    expect(second.port).toBe(first.port);
  });

  it("keeps data across a stop and a start", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "canaryd-redis-"));
    const first = await startPrivateRedis({ dataDir });
    const writer = new Redis(first.url);
    await writer.set("survives", "yes");
    writer.disconnect();
    await first.stop();
    const second = await start(dataDir);
    const reader = new Redis(second.url);
    try {
      expect(await reader.get("survives")).toBe("yes");
    } finally {
      reader.disconnect();
    }
  });

  it("is gone after stop", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "canaryd-redis-"));
    const redis = await startPrivateRedis({ dataDir });
    await redis.stop();
    expect(isProcessAlive(redis.pid)).toBe(false);
  });
});
