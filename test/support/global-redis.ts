/**
 * Vitest globalSetup: makes `npm test` need nothing running. When REDIS_URL is set, or a Redis
 * already answers on 127.0.0.1:<probe port> (CANARYD_TEST_REDIS_PORT, default 6379), the suite uses
 * that one and this does nothing. Otherwise it starts a private redis-server with the daemon's own
 * code (src/daemon/private-redis.ts, on a free loopback port, data in a temporary directory), hands
 * its URL to every test through REDIS_URL (the test helpers read it), and stops it at the end.
 * If the run is killed, the server is left behind in its temporary directory; nothing else is shared.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { startPrivateRedis } from "../../src/daemon/private-redis.ts";

/** True when something answers PING on the port. */
async function redisAnswers(port: number): Promise<boolean> {
  const probe = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on("error", () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.REDIS_URL) return undefined;
  const port = Number(process.env.CANARYD_TEST_REDIS_PORT ?? 6379);
  if (await redisAnswers(port)) {
    process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
    return undefined;
  }
  const dataDir = await mkdtemp(join(tmpdir(), "canaryd-test-redis-"));
  const redis = await startPrivateRedis({ dataDir });
  process.env.REDIS_URL = redis.url;
  process.stderr.write(
    `test: nothing answered on 127.0.0.1:${port}; started a private redis-server (pid ${redis.pid}) at ${redis.url}\n`,
  );
  return async () => {
    await redis.stop();
    delete process.env.REDIS_URL;
    await rm(dataDir, { recursive: true, force: true });
    process.stderr.write(`test: stopped the private redis-server (pid ${redis.pid})\n`);
  };
}
