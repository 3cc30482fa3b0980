/** A throwaway redis-server for one benchmark run: free loopback port, nothing on disk. */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";

export interface BenchRedis {
  url: string;
  client: Redis;
  /** `used_memory` from INFO memory, in bytes. */
  usedMemory(): Promise<number>;
  /** Commands since the last `CONFIG RESETSTAT` (INFO stats `total_commands_processed`). */
  commandsProcessed(): Promise<number>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startBenchRedis(): Promise<BenchRedis> {
  const port = await freePort();
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--loglevel",
      "warning",
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on("error", () => {});
  for (let attempt = 0; ; attempt++) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch (error) {
      client.disconnect();
      if (attempt > 50) throw new Error(`redis-server on port ${port} did not answer: ${String(error)}`);
      await sleep(100);
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    client,
    async usedMemory() {
      const info = await client.info("memory");
      return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
    },
    async commandsProcessed() {
      const info = await client.info("stats");
      return Number(/^total_commands_processed:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
    },
    async stop() {
      client.disconnect();
      child.kill("SIGTERM");
      await exited;
    },
  };
}
