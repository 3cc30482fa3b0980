/**
 * The daemon's own Redis when REDIS_URL is not set: a redis-server on a free loopback port with
 * its append-only file under var/redis. A Redis left behind by a daemon that was killed is found
 * through its pid and port files and reused, so there is never more than one per data directory.
 *
 * One daemon per data directory: the daemon holds `canaryd.lock` (its pid) there from start to
 * stop. A second daemon finds the lock held by a live pid and refuses to start, naming that pid
 * and the Redis port (sharing would let the first to stop shut the Redis down under the other).
 * A lock whose pid is dead (a daemon killed with SIGKILL) is stale and taken over. Two daemons
 * taking over the same stale lock in the same instant could both succeed; starting two at once is
 * not what the lock is for.
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

export class PrivateRedisInUseError extends Error {
  readonly code = "PRIVATE_REDIS_IN_USE";
  readonly ownerPid: number;
  readonly port: number | undefined;
  constructor(dataDir: string, ownerPid: number, port: number | undefined) {
    super(
      `another canaryd (pid ${ownerPid}) is running on the private Redis in ${dataDir} ` +
        `(port ${port ?? "unknown"}): stop it first, or give this one its own redis.privateDataDir ` +
        "(or a REDIS_URL to share a Redis you run)",
    );
    this.name = "PrivateRedisInUseError";
    this.ownerPid = ownerPid;
    this.port = port;
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
  const release = takeLock(join(dataDir, "canaryd.lock"), dataDir, portFile);
  try {
    return await startOrReuse(dataDir, pidFile, portFile, release, options.startTimeoutMs ?? 10_000);
  } catch (error) {
    release();
    throw error;
  }
}

/**
 * Takes the data directory's lock for this process; returns its release. Throws
 * PrivateRedisInUseError when a live process holds it. Re-entrant within one process.
 */
function takeLock(lockFile: string, dataDir: string, portFile: string): () => void {
  const release = () => {
    if (readNumber(lockFile) === process.pid) rmSync(lockFile, { force: true });
  };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      writeFileSync(lockFile, `${process.pid}\n`, { flag: "wx" });
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const owner = readNumber(lockFile);
    if (owner === process.pid) return release;
    if (owner !== undefined && isProcessAlive(owner))
      throw new PrivateRedisInUseError(dataDir, owner, readNumber(portFile));
    // Stale (its daemon died without stopping) or half-written: take it over.
    rmSync(lockFile, { force: true });
  }
  throw new Error(`could not take the lock ${lockFile}: other processes keep taking it`);
}

function readNumber(file: string): number | undefined {
  try {
    const value = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

async function startOrReuse(
  dataDir: string,
  pidFile: string,
  portFile: string,
  release: () => void,
  startTimeoutMs: number,
): Promise<PrivateRedis> {
  const leftover = readLeftover(pidFile, portFile);
  if (leftover) {
    if (await answersFromDir(leftover.port, dataDir))
      return handle(leftover.port, leftover.pid, true, pidFile, portFile, release);
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
  await waitUntilAnswering(port, startTimeoutMs);
  return handle(port, pid, false, pidFile, portFile, release);
}

function handle(
  port: number,
  pid: number,
  reused: boolean,
  pidFile: string,
  portFile: string,
  release: () => void,
): PrivateRedis {
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
      release();
    },
  };
}

function readLeftover(pidFile: string, portFile: string): { pid: number; port: number } | undefined {
  const pid = readNumber(pidFile);
  const port = readNumber(portFile);
  return pid !== undefined && port !== undefined ? { pid, port } : undefined;
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
