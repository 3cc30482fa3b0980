/**
 * Redis servers a reliability test owns: one it can stop and restart on the same port and data
 * directory (append-only file on), or a Redis Cluster of masters on loopback. Each lives in its own
 * temporary directory and is stopped by the test that started it.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Redis } from "ioredis";

const run = promisify(execFile);

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== "object" || !address) throw new Error("no free port");
  return address.port;
}

/** Resolves once PING answers PONG on the port, or throws after `timeoutMs`. */
export async function waitForPong(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = new Redis({
      port,
      host: "127.0.0.1",
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on("error", () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === "PONG") return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis on port ${port} did not answer within ${timeoutMs} ms`);
    await sleep(50);
  }
}

export interface OwnRedis {
  port: number;
  url: string;
  dir: string;
  /** Whether a redis-server process is running now. */
  running(): boolean;
  /** Stops the server: SIGTERM saves the append-only file, SIGKILL is a crash. */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts the server again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
}

export interface OwnRedisOptions {
  /** `always` makes a kill -9 lose nothing acknowledged; `everysec` is Redis' default. */
  appendfsync?: "always" | "everysec";
}

/** A persistent redis-server (append-only file on) on a free loopback port. */
export async function startOwnRedis(options: OwnRedisOptions = {}): Promise<OwnRedis> {
  const dir = await mkdtemp(join(tmpdir(), "canaryd-redis-"));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--appendonly",
    "yes",
    "--appendfsync",
    options.appendfsync ?? "always",
    "--save",
    "",
    "--daemonize",
    "no",
    "--loglevel",
    "warning",
  ];
  const handle: OwnRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async start() {
      if (handle.running()) return;
      child = spawn("redis-server", args, { stdio: "ignore" });
      await waitForPong(port);
    },
    async stop(signal = "SIGTERM") {
      const current = child;
      if (!current || !handle.running()) return;
      const exited = once(current, "exit");
      current.kill(signal);
      await exited;
    },
    async destroy() {
      await handle.stop("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    },
  };
  await handle.start();
  return handle;
}

export interface OwnCluster {
  ports: number[];
  /** A seed URL per master, for clients that take one. */
  urls: string[];
  destroy(): Promise<void>;
}

/** A Redis Cluster of `masters` masters and no replicas, on loopback, created with redis-cli. */
export async function startOwnCluster(masters = 3): Promise<OwnCluster> {
  const dir = await mkdtemp(join(tmpdir(), "canaryd-cluster-"));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const destroy = async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, "exit");
        child.kill("SIGKILL");
        await exited;
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      ports.push(port);
      children.push(
        spawn(
          "redis-server",
          [
            "--port",
            String(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            join(dir, `nodes-${port}.conf`),
            "--dir",
            dir,
            "--dbfilename",
            `dump-${port}.rdb`,
            "--appendonly",
            "no",
            "--save",
            "",
            "--loglevel",
            "warning",
          ],
          { stdio: "ignore" },
        ),
      );
    }
    await Promise.all(ports.map((port) => waitForPong(port)));
    await run(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        "0",
        "--cluster-yes",
      ],
      { timeout: 30_000 },
    );
    await waitForClusterOk(ports, 20_000);
    return { ports, urls: ports.map((p) => `redis://127.0.0.1:${p}`), destroy };
  } catch (error) {
    await destroy();
    throw error;
  }
}

async function waitForClusterOk(ports: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const port of ports) {
    for (;;) {
      const { stdout } = await run("redis-cli", ["-p", String(port), "cluster", "info"], { timeout: 5_000 });
      if (stdout.includes("cluster_state:ok")) break;
      if (Date.now() > deadline) throw new Error(`cluster node ${port} never reported cluster_state:ok`);
      await sleep(100);
    }
  }
}
