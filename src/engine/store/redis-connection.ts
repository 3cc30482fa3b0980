/**
 * How the engine reaches Redis: one node by URL, or a Redis Cluster by its seed nodes. The engine
 * talks to either through the same client type; its keys share one hash tag, so on a cluster
 * every script, pipeline and BullMQ job lands on one slot of one master.
 */
import type { ConnectionOptions } from "bullmq";
import { Cluster, type ClusterNode, Redis, type RedisOptions } from "ioredis";

/** A single-node or cluster client: their command APIs are the same for what the engine uses. */
export type RedisClient = Redis | Cluster;

/** Redis connection options from a redis:// or rediss:// URL, in a shape ioredis and BullMQ both take. */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: Record<string, never>;
}

export function redisOptionsFromUrl(url: string): RedisConnectionOptions {
  const u = new URL(url);
  const options: RedisConnectionOptions = {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
  };
  if (u.username) options.username = decodeURIComponent(u.username);
  if (u.password) options.password = decodeURIComponent(u.password);
  if (u.protocol === "rediss:") options.tls = {};
  return options;
}

/** Where Redis is. */
export interface RedisTarget {
  /** One node: its URL. With `clusterNodes`: only the credentials and TLS (`rediss:`) of every node. */
  url?: string | undefined;
  /** Seed nodes (`host:port`) of a Redis Cluster; empty or absent: the single node at `url`. */
  clusterNodes?: readonly string[] | undefined;
}

export class RedisTargetError extends Error {
  readonly code = "REDIS_TARGET_INVALID";
  constructor(message: string) {
    super(message);
    this.name = "RedisTargetError";
  }
}

/** Per-client settings the engine varies: how long a command waits across reconnects, when to connect. */
export interface RedisClientSettings {
  maxRetriesPerRequest?: number | null;
  lazyConnect?: boolean;
  /**
   * Commands issued in the same event-loop tick go out in one write (ioredis auto-pipelining):
   * order per connection is kept, each command still has its own reply. The engine's main client
   * uses it; a socket write per command was a tenth of the daemon's CPU under load.
   */
  enableAutoPipelining?: boolean;
}

export function isClusterTarget(target: RedisTarget): boolean {
  return (target.clusterNodes?.length ?? 0) > 0;
}

/** `host:port` to a seed node; the port is after the last ':' so a bracketed IPv6 host also parses. */
export function parseClusterNode(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(":");
  const host = node.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  const port = Number(node.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new RedisTargetError(`Redis Cluster node "${node}" is not host:port`);
  }
  return { host, port };
}

/** What every cluster node takes from the URL: a cluster has no databases, and its nodes announce their own addresses. */
function nodeCredentials(url: string | undefined): RedisOptions {
  if (!url) return {};
  const { username, password, tls } = redisOptionsFromUrl(url);
  return {
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(tls === undefined ? {} : { tls }),
  };
}

const missingTarget = () => new RedisTargetError("no Redis configured: give a URL or Redis Cluster nodes");

/** A new client of the target: a `Redis` for one node, a `Cluster` over the seed nodes otherwise. */
export function createRedisClient(target: RedisTarget, settings: RedisClientSettings = {}): RedisClient {
  if (isClusterTarget(target)) {
    const nodes: ClusterNode[] = (target.clusterNodes ?? []).map(parseClusterNode);
    const { lazyConnect, enableAutoPipelining, ...perNode } = settings;
    return new Cluster(nodes, {
      ...(lazyConnect === undefined ? {} : { lazyConnect }),
      ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
      redisOptions: { ...nodeCredentials(target.url), ...perNode },
    });
  }
  if (!target.url) throw missingTarget();
  return new Redis({ ...redisOptionsFromUrl(target.url), ...settings });
}

/**
 * BullMQ's connection to the target and how to release it. One node: connection options, from
 * which each Queue and Worker makes (and closes) its own clients. A cluster: one Cluster client;
 * a Queue shares it, a Worker duplicates it for its own connections, and `close` ends it.
 */
export function createBullConnection(
  target: RedisTarget,
  onError: (error: Error) => void,
): {
  connection: ConnectionOptions;
  close(): Promise<void>;
} {
  if (!isClusterTarget(target)) {
    if (!target.url) throw missingTarget();
    return {
      connection: { ...redisOptionsFromUrl(target.url), maxRetriesPerRequest: null },
      close: async () => {},
    };
  }
  // BullMQ's blocking commands must wait out a failover instead of failing after a few retries.
  const client = createRedisClient(target, { maxRetriesPerRequest: null });
  // BullMQ listens only while a Queue uses the client; an unheard error event would be fatal.
  client.on("error", onError);
  return {
    connection: client,
    async close() {
      if (client.status === "ready") await client.quit();
      else client.disconnect();
    },
  };
}
