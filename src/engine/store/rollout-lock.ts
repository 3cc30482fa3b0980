/**
 * One step at a time per rollout, across every daemon process: a Redis lock with a random token
 * and an expiry. BullMQ's per-group serialization is a Pro feature, and steps also start outside
 * workers (API actions), so the lock lives beside the queue instead. An expired lock (a process
 * paused past the expiry) cannot corrupt anything: the commit also checks the revision it read.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { CanarydError } from "../service/rollout-service.ts";
import type { RedisClient } from "./redis-connection.ts";
import { luaScript, runScript } from "./redis-script.ts";

const releaseScript = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

export interface RolloutLockOptions {
  /** How long a holder may keep the lock before it expires (a step takes milliseconds). */
  ttlMs: number;
  /** How long to wait for a busy lock before giving up (the caller retries). */
  waitMs: number;
}

export const lockTimeout = (key: string, waitMs: number) =>
  new CanarydError("ROLLOUT_LOCK_TIMEOUT", 503, `rollout lock ${key} stayed busy for ${waitMs} ms`, { key });

export class RolloutLock {
  readonly redis: RedisClient;
  readonly options: RolloutLockOptions;
  /** Per key, whether a step of this process runs, and the steps waiting for it: urgent ones first. */
  readonly #local = new Map<string, { urgent: (() => void)[]; normal: (() => void)[] }>();

  constructor(redis: RedisClient, options: RolloutLockOptions) {
    this.redis = redis;
    this.options = options;
  }

  /**
   * Steps of one process queue in memory first, so each starts the moment the previous one
   * releases instead of after a polling back-off of up to 150 ms; only steps of different
   * processes meet at the Redis lock (and poll for it). An `urgent` step (one that may begin or
   * advance a rollback) starts before the waiting ones that are not, in arrival order otherwise.
   */
  async withLock<T>(key: string, fn: () => Promise<T>, options: { urgent?: boolean } = {}): Promise<T> {
    let queue = this.#local.get(key);
    if (queue) {
      const waiting = options.urgent ? queue.urgent : queue.normal;
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      queue = { urgent: [], normal: [] };
      this.#local.set(key, queue);
    }
    try {
      return await this.#withRedisLock(key, fn);
    } finally {
      // Hands the turn straight to the next waiter; the last one out removes the queue.
      const next = queue.urgent.shift() ?? queue.normal.shift();
      if (next) next();
      else this.#local.delete(key);
    }
  }

  async #withRedisLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const token = randomUUID();
    const deadline = Date.now() + this.options.waitMs;
    for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
      const acquired = await this.redis.set(key, token, "PX", this.options.ttlMs, "NX");
      if (acquired === "OK") break;
      if (Date.now() >= deadline) throw lockTimeout(key, this.options.waitMs);
      // Jitter keeps several waiting workers from retrying in lockstep.
      await sleep(wait / 2 + Math.random() * wait);
    }
    try {
      return await fn();
    } finally {
      await runScript(this.redis, releaseScript, [key], [token]);
    }
  }
}
