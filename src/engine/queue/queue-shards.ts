/**
 * Queue shards: where a rollout's effect jobs live. This is the one place that routes them; every
 * enqueue, cancel and worker of the effects queue goes through it (queue/effect-queue.ts,
 * service/engine.ts).
 *
 * Contract:
 * - `engine.queueShards` = 1 (the default): one BullMQ queue `effects` under the configured prefix
 *   itself, exactly the key names of every install before shards existed.
 * - N > 1: N BullMQ queues named `effects`, shard i under its own prefix (`shardPrefixes`). A
 *   hash-tagged prefix `{tag}` gives shard i the tag `{tag-q<i>-<k>}`. The 16384 Redis Cluster
 *   slots are cut into N + 1 equal bands; the band of the prefix's own slot (where all rollout
 *   state lives) is left to the state, and shard i takes the i-th of the other N bands, with the
 *   smallest k >= 0 whose slot lies in the middle half of it. `redis-cli --cluster create` gives
 *   masters equal contiguous slot ranges, so on M masters with N + 1 = M (or a multiple of M) the
 *   state's master carries no shard (or one fewer than the others): with three masters and two
 *   shards, each master carries one of state, shard 0, shard 1. An untagged prefix (single node
 *   only) gives `<prefix>-q<i>`. The names are a pure function of prefix and N: every process
 *   sharing a Redis derives the same ones.
 * - A rollout's jobs (effects and timers, which are delayed jobs) always go to one shard:
 *   `shardOf(rolloutId, N)`, a stable hash of the id. So a cancel finds the job where it was added,
 *   and the job id (`${rolloutId}.${effectId}`) stays the dedup key within that shard.
 *
 * Crash safety is unchanged: the outbox, in the rollout's own slot (the prefix's tag), stays the
 * durable record; a job is only ever added after the commit, and recovery re-adds it from the
 * outbox to the same shard.
 *
 * Changing N: stop every daemon, then start them all with the new N. Each start runs a recovery
 * pass, which re-adds every outbox entry of every active rollout to the rollout's new shard, so
 * rollouts in flight go on there (test/integration/engine/engine-queue-shards.test.ts). The old
 * layout's jobs stay in Redis, inert: no worker reads those queues. Never run daemons with
 * different N on one Redis at once: an effect could then have a job in two queues, and job ids
 * dedup only within one, so it could run twice (docs/performance.md, "Redis Cluster").
 */
import { createHash } from "node:crypto";
import calculateSlot from "cluster-key-slot";

/** Redis Cluster's slot count. */
export const clusterSlots = 16_384;

/**
 * The Redis Cluster slot of a key: of its hash tag when it has a non-empty one (CLUSTER KEYSLOT).
 * The same calculator ioredis routes commands with.
 */
export function keySlot(key: string): number {
  return calculateSlot(key);
}

const hashTag = /^\{([^{}]+)\}$/;

/** The prefix of every shard, in shard order; `[prefix]` when there is one shard. */
export function shardPrefixes(prefix: string, shards: number): string[] {
  if (!Number.isInteger(shards) || shards < 1)
    throw new RangeError(`queue shards must be >= 1, got ${shards}`);
  if (shards === 1) return [prefix];
  const tag = hashTag.exec(prefix)?.[1];
  if (tag === undefined) return Array.from({ length: shards }, (_, i) => `${prefix}-q${i}`);
  const bands = shards + 1;
  const width = clusterSlots / bands;
  const stateBand = Math.floor(keySlot(prefix) / width);
  const shardBands = Array.from({ length: bands }, (_, band) => band).filter((band) => band !== stateBand);
  return shardBands.map((band, i) => {
    const low = band * width + width / 4;
    const high = (band + 1) * width - width / 4;
    for (let k = 0; ; k++) {
      const candidate = `{${tag}-q${i}-${k}}`;
      const slot = keySlot(candidate);
      if (slot >= low && slot < high) return candidate;
    }
  });
}

/** The shard of a rollout's jobs: stable across processes and restarts, spread evenly over N. */
export function shardOf(rolloutId: string, shards: number): number {
  if (shards <= 1) return 0;
  return createHash("sha256").update(rolloutId).digest().readUInt32BE(0) % shards;
}

/**
 * Per-shard worker concurrency: `workerConcurrency` split over the shards (rounded up), so one
 * daemon still runs about `workerConcurrency` effect jobs at once (at most `shards - 1` more).
 */
export function shardConcurrency(workerConcurrency: number, shards: number): number {
  return Math.max(1, Math.ceil(workerConcurrency / shards));
}
