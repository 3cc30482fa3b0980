/**
 * The daemon's own Redis when REDIS_URL is not set: a redis-server on a free loopback port with
 * its append-only file under var/redis. A Redis left behind by a daemon that was killed is found
 * through its pid and port files and reused, so there is never more than one per data directory.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";

export class RedisServerMissingError extends Error {
  readonly code = "REDIS_SERVER_MISSING";
  constructor() {
    super(
      "canaryd needs Redis and none is configured: REDIS_URL is not set and no redis-server is on PATH. " +
        "Either install redis-server (e.g. apt-get install redis-server), set REDIS_URL to a Redis you run, " +
        "or run `docker compose up` to start canaryd with its own Redis.",
    );
    this.name = "RedisServerMissingError";
  }
}

export interface PrivateRedis {
  url: string;
  port: number;
  pid: number;
  /** True when a Redis left by an earlier daemon was adopted instead of starting one. */
  reused: boolean;
  /** Saves the append-only file and stops the server. */
  stop(): Promise<void>;
}

export interface PrivateRedisOptions {
  dataDir: string;
  /** How long to wait for a new server to answer PING. */
  startTimeoutMs?: number;
}

export async function startPrivateRedis(options: PrivateRedisOptions): Promise<PrivateRedis> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const pidFile = join(dataDir, "redis.pid");
  const portFile = join(dataDir, "redis.port");

  const leftover = readLeftover(pidFile, portFile);
  if (leftover) {
    if (await answersFromDir(leftover.port, dataDir))
      return handle(leftover.port, leftover.pid, true, pidFile, portFile);
    // Alive but not ours or not answering: replace it rather than run a second one on the same files.
    if (isProcessAlive(leftover.pid)) await terminate(leftover.pid);
  }

  if (spawnSync("redis-server", ["--version"], { stdio: "ignore" }).error)
    throw new RedisServerMissingError();
  const port = await freePort();
  const child = spawn(
    "redis-server",
    [
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--dir",
      dataDir,
      "--appendonly",
      "yes",
      "--appendfsync",
      "everysec",
      "--save",
      "",
      "--pidfile",
      pidFile,
      "--logfile",
      join(dataDir, "redis.log"),
      "--protected-mode",
      "yes",
    ],
    // Its own process group: a Ctrl-C meant for the daemon must not kill Redis before the daemon
    // has handed its jobs back.
    { detached: true, stdio: "ignore" },
  );
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new RedisServerMissingError();
  writeFileSync(portFile, String(port));
  await waitUntilAnswering(port, options.startTimeoutMs ?? 10_000);
  return handle(port, pid, false, pidFile, portFile);
}

function handle(port: number, pid: number, reused: boolean, pidFile: string, portFile: string): PrivateRedis {
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid,
    reused,
    async stop() {
      const client = probeClient(port);
      try {
        await client.connect();
        await client.call("SHUTDOWN", "SAVE").catch(() => undefined);
      } catch {
        // Already gone.
      } finally {
        client.disconnect();
      }
      await waitUntilGone(pid, 5_000);
      rmSync(portFile, { force: true });
      rmSync(pidFile, { force: true });
    },
  };
}

function readLeftover(pidFile: string, portFile: string): { pid: number; port: number } | undefined {
  try {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    const port = Number(readFileSync(portFile, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && Number.isInteger(port) && port > 0) return { pid, port };
  } catch {
    // No leftover.
  }
  return undefined;
}

/** True when a Redis answers on the port and keeps its files in our data directory. */
async function answersFromDir(port: number, dataDir: string): Promise<boolean> {
  const client = probeClient(port);
  try {
    await client.connect();
    const reply = (await client.call("CONFIG", "GET", "dir")) as string[];
    return reply[1] === dataDir;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function waitUntilAnswering(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const client = probeClient(port);
    try {
      await client.connect();
      // Loading the append-only file answers LOADING until done.
      if ((await client.ping()) === "PONG") return;
    } catch {
      // Not up yet.
    } finally {
      client.disconnect();
    }
    await sleep(50);
  }
  throw new Error(`the private redis-server did not answer on port ${port} within ${timeoutMs} ms`);
}

/** A one-shot client: no reconnects, and errors are the caller's to handle, not unhandled events. */
function probeClient(port: number): Redis {
  const client = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => undefined);
  return client;
}

/** True while a process with this pid exists (signal 0 probes without signalling). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function terminate(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  await waitUntilGone(pid, 5_000);
  if (isProcessAlive(pid)) process.kill(pid, "SIGKILL");
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid) && Date.now() < deadline) await sleep(25);
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolvePort(address.port) : reject(new Error("no port")),
      );
    });
  });
}
