import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import {
  isProcessAlive,
  type PrivateRedis,
  PrivateRedisInUseError,
  startPrivateRedis,
} from "../../../src/daemon/private-redis.ts";

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

  it("refuses a data directory whose lock a live process holds, naming its pid and the Redis port", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "canaryd-redis-"));
    const redis = await start(dataDir);
    const other = idleProcess();
    // Another daemon's lock (this process's own lock is re-entrant, so stand in another pid).
    writeFileSync(join(dataDir, "canaryd.lock"), `${other.pid}\n`);

    const refusal = await startPrivateRedis({ dataDir }).catch((error: unknown) => error);

    expect(refusal).toBeInstanceOf(PrivateRedisInUseError);
    expect(refusal).toMatchObject({ code: "PRIVATE_REDIS_IN_USE", ownerPid: other.pid, port: redis.port });
    expect((refusal as Error).message).toContain(`pid ${other.pid}`);
    expect((refusal as Error).message).toContain(`port ${redis.port}`);
    expect(readFileSync(join(dataDir, "canaryd.lock"), "utf8").trim()).toBe(String(other.pid));
    expect(isProcessAlive(redis.pid)).toBe(true);
  });

  it("takes over a stale lock whose process is dead, and releases its lock on stop", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "canaryd-redis-"));
    const dead = spawn(process.execPath, ["-e", ""]);
    await once(dead, "exit");
    writeFileSync(join(dataDir, "canaryd.lock"), `${dead.pid}\n`);

    const redis = await startPrivateRedis({ dataDir });
    expect(readFileSync(join(dataDir, "canaryd.lock"), "utf8").trim()).toBe(String(process.pid));
    await redis.stop();
    expect(existsSync(join(dataDir, "canaryd.lock"))).toBe(false);
  });
});

const idle: ChildProcess[] = [];
afterEach(() => {
  for (const child of idle.splice(0)) child.kill("SIGKILL");
});

/** A live process that is not this one. */
function idleProcess(): ChildProcess & { pid: number } {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60_000)"]);
  idle.push(child);
  if (child.pid === undefined) throw new Error("could not spawn");
  return child as ChildProcess & { pid: number };
}
