/**
 * Composes the engine: Redis store, lock, effects queue and worker, the step, recovery and the
 * RolloutService. `start()` runs a recovery pass and the workers; `stop()` lets in-flight jobs
 * finish (or, past the grace period, hands them back to the queue for another process); with
 * Redis gone it drops everything at once, so stopping never waits on a Redis that is away.
 * Several processes may run engines on one Redis: they share the queue, the lock serializes steps.
 * That Redis is one node or a Redis Cluster; on a cluster every rollout key shares the prefix's
 * hash tag (one slot), and the effects queue is `engine.queueShards` BullMQ queues, each with a tag
 * of its own and one Worker here (queue/queue-shards.ts), so queue traffic spreads over masters.
 */
import { Queue, Worker } from "bullmq";
import type { Logger } from "pino";
import type { Config } from "../../config/schema.ts";
import type { ExecuteEffect } from "../../effects/effect-executor.ts";
import { EmergencyStop, withEmergencyStop } from "../../emergency-stop/emergency-stop.ts";
import { errorMessage } from "../../logging/redact.ts";
import { type NotificationMetrics, Notifier } from "../../notifications/notifier.ts";
import { acceleratedClock, type Clock, systemClock } from "../core/clock.ts";
import type { Decider } from "../core/decider.ts";
import { machineDecider, rolloutSettings } from "../core/machine-decider.ts";
import { classifyError, retryDelayMs } from "../core/retry-policy.ts";
import { Stepper } from "../core/step.ts";
import { type EffectJobData, EffectQueue, effectQueueName } from "../queue/effect-queue.ts";
import { answerDeadLetter, type EffectFailureMetrics, processEffectJob } from "../queue/effect-worker.ts";
import { shardConcurrency, shardPrefixes } from "../queue/queue-shards.ts";
import { shareClockOrigin } from "../store/clock-origin.ts";
import { engineKeys } from "../store/keys.ts";
import { createBullConnection, createRedisClient, type RedisTarget } from "../store/redis-connection.ts";
import { defaultRetention, Retention } from "../store/retention.ts";
import { RolloutLock } from "../store/rollout-lock.ts";
import { RolloutStore } from "../store/rollout-store.ts";
import { withStoreErrors } from "../store/store-errors.ts";
import { TimelineFeed } from "../store/timeline-feed.ts";
import { EngineService } from "./engine-service.ts";
import { recoverOutbox } from "./recovery.ts";
import type { RolloutService } from "./rollout-service.ts";

/** Durations the defaults of which suit production; tests shorten them. */
export interface EngineTiming {
  /** Expiry of the per-rollout step lock (a step takes milliseconds; this covers a dead holder). */
  stepLockTtlMs: number;
  /**
   * How long a step waits for a busy rollout lock before its job is retried. Longer than the
   * expiry, so a lock left by a killed process never costs an effect one of its attempts.
   */
  stepLockWaitMs: number;
  /** BullMQ job lock: a job whose process died is taken over after this. */
  jobLockMs: number;
  /** How often BullMQ looks for jobs whose worker died. */
  stalledIntervalMs: number;
  /** How often the outbox is swept for entries without a job (a process died mid-step). */
  recoveryIntervalMs: number;
  /** Ceiling of the first retry delay of a failed effect attempt; doubles per attempt (jittered). */
  retryBackoffMs: number;
  /** No retry waits longer, unless Azure's Retry-After asks for it. */
  retryBackoffCapMs: number;
  /** How long stop() lets in-flight jobs finish before handing them back. */
  stopGraceMs: number;
  /**
   * Engine-clock time per real time: at 60 (a demo against the simulator at --time-scale 60) the
   * default clock is accelerated 60 times, so timers, re-checks and gate windows run 60 times faster.
   */
  timeScale: number;
  idempotencyTtlSeconds: number;
  waitRecheckMs: number;
  /** How often (real time) finished rollouts are compacted and expired records deleted (store/retention.ts). */
  retentionSweepMs: number;
}

export const defaultEngineTiming: EngineTiming = {
  stepLockTtlMs: 10_000,
  stepLockWaitMs: 15_000,
  jobLockMs: 30_000,
  stalledIntervalMs: 30_000,
  recoveryIntervalMs: 15_000,
  retryBackoffMs: 1_000,
  retryBackoffCapMs: 60_000,
  stopGraceMs: 10_000,
  timeScale: 1,
  idempotencyTtlSeconds: 86_400,
  waitRecheckMs: 5_000,
  retentionSweepMs: 60_000,
};

export interface EngineOptions {
  /** One Redis node; with `clusterNodes`, only the credentials and TLS (`rediss:`) of the cluster's nodes. */
  redisUrl?: string;
  /** Seed nodes (`host:port`) of a Redis Cluster to run on instead of one node. */
  clusterNodes?: readonly string[];
  /** `retention`, `notifications`, `windows`/`freezes` (optional here): with any window, each wave of a new rollout checks it. */
  config: Pick<Config, "redis" | "engine"> &
    Partial<Pick<Config, "retention" | "windows" | "freezes" | "notifications">>;
  executeEffect: ExecuteEffect;
  /** The rollout machine; tests may drive the engine with another decider. */
  decider?: Decider;
  logger: Logger;
  /**
   * Defaults to the system clock, or an accelerated one when `timing.timeScale` is not 1.
   * Processes sharing one Redis must share one clock: give them all the same accelerated origin.
   */
  clock?: Clock;
  timing?: Partial<EngineTiming>;
  /** Counts retried and dead-lettered effects (the daemon's Prometheus metrics). */
  metrics?: EffectFailureMetrics & Partial<NotificationMetrics>;
}

export interface Engine {
  service: RolloutService;
  /** Compaction and record expiry; start() runs its sweep every timing.retentionSweepMs. */
  retention: Retention;
  /** The emergency stop (src/emergency-stop/): `service` refuses starts while it is set. */
  emergencyStop: EmergencyStop;
  /** Notification delivery (src/notifications/); absent when no subscription is configured. */
  notifier?: Notifier;
  /** Runs a recovery pass, then the workers and the periodic recovery. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** How long one step of stop() may take once it can no longer do anything useful. */
const closeStepMs = 1_000;

/** Waits for `work` at most `ms`; a failure or an overrun is logged and the caller goes on. */
async function settleWithin(work: Promise<unknown>, ms: number, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<"overrun">((resolve) => {
    timer = setTimeout(resolve, ms, "overrun");
  });
  const result = await Promise.race([
    work.then(
      () => "done" as const,
      (error: unknown) => {
        logger.warn({ reason: errorMessage(error) }, "engine stop: a close failed");
        return "done" as const;
      },
    ),
    overrun,
  ]);
  clearTimeout(timer);
  if (result === "overrun") logger.warn({ waitedMs: ms }, "engine stop: a close did not finish; going on");
}

/** Whether Redis answers PING in time (a just-killed Redis still shows the client "ready"). */
async function answersWithin(client: { ping(): Promise<string> }, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  const answered = await Promise.race([
    client.ping().then(
      (reply) => reply === "PONG",
      () => false,
    ),
    late,
  ]);
  clearTimeout(timer);
  return answered;
}

export function createEngine(options: EngineOptions): Engine {
  const decider =
    options.decider ??
    machineDecider(
      rolloutSettings(options.config.engine, {
        windows: options.config.windows ?? [],
        freezes: options.config.freezes ?? [],
      }),
    );
  const timing = { ...defaultEngineTiming, ...options.timing };
  const accelerated =
    options.clock === undefined && timing.timeScale !== 1 ? acceleratedClock(timing.timeScale) : undefined;
  const clock = options.clock ?? accelerated ?? systemClock;
  const logger = options.logger.child({ component: "engine" });
  const target: RedisTarget = { url: options.redisUrl, clusterNodes: options.clusterNodes };
  const prefix = options.config.redis.keyPrefix;
  const keys = engineKeys(prefix);
  // Few retries per command: an API call fails fast with 503 while Redis is away; jobs retry anyway.
  const redis = createRedisClient(target, {
    lazyConnect: true,
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
  });
  const subscriber = createRedisClient(target, { lazyConnect: true });
  for (const client of [redis, subscriber]) {
    // ioredis reconnects by itself; the event must be handled or Node treats it as fatal.
    client.on("error", (error: Error) => logger.warn({ reason: error.message }, "redis connection error"));
  }
  const store = new RolloutStore(redis, keys, decider.codec);
  const lock = new RolloutLock(redis, { ttlMs: timing.stepLockTtlMs, waitMs: timing.stepLockWaitMs });
  const bull = createBullConnection(target, (error) =>
    logger.warn({ reason: error.message }, "redis connection error"),
  );
  // One BullMQ queue per shard; with one shard, the prefix itself (the layout of every older install).
  const queuePrefixes = shardPrefixes(prefix, options.config.engine.queueShards);
  const bullQueues = queuePrefixes.map((queuePrefix) => {
    const bullQueue = new Queue(effectQueueName, { connection: bull.connection, prefix: queuePrefix });
    bullQueue.on("error", (error) => logger.warn({ reason: error.message }, "effects queue error"));
    return bullQueue;
  });
  const concurrency = shardConcurrency(options.config.engine.workerConcurrency, queuePrefixes.length);
  const queue = new EffectQueue(bullQueues, clock, {
    attempts: options.config.engine.effectAttempts,
    timeScale: timing.timeScale,
  });
  const notifications = options.config.notifications;
  const metrics = options.metrics;
  const notifier =
    notifications && notifications.subscriptions.length > 0
      ? new Notifier({
          config: notifications,
          prefix,
          redis,
          connection: bull.connection,
          logger: logger.child({ component: "notifications" }),
          ...(metrics?.notificationSent && metrics.notificationFailed && metrics.notificationDead
            ? {
                metrics: {
                  notificationSent: metrics.notificationSent,
                  notificationFailed: metrics.notificationFailed,
                  notificationDead: metrics.notificationDead,
                },
              }
            : {}),
          awaitingApproval: async (id) => {
            const record = await store.load(id);
            return record !== undefined && decider.describe(record.state).phase === "awaitingApproval";
          },
          jobLockMs: timing.jobLockMs,
          stalledIntervalMs: timing.stalledIntervalMs,
        })
      : undefined;
  const stepper = new Stepper({
    store,
    lock,
    keys,
    decider,
    queue,
    clock,
    logger,
    ...(notifier ? { notifications: notifier } : {}),
  });
  const syncClock = async () => {
    if (accelerated) await shareClockOrigin(redis, keys.clockOrigin(timing.timeScale), accelerated);
  };
  let clockSynced: Promise<void> | undefined;
  // Once per process, before the clock stamps anything; a failure is retried on the next call.
  const prepare = () => {
    clockSynced ??= syncClock().catch((error: unknown) => {
      clockSynced = undefined;
      throw error;
    });
    return clockSynced;
  };

  let workers: Worker<EffectJobData>[] = [];
  let sweep: NodeJS.Timeout | undefined;
  let retentionSweep: NodeJS.Timeout | undefined;
  const retention = new Retention({
    store,
    decider,
    keys,
    clock,
    logger,
    settings: options.config.retention ?? defaultRetention,
  });

  const service = new EngineService({
    store,
    stepper,
    decider,
    queue,
    feed: new TimelineFeed(subscriber),
    keys,
    executeEffect: options.executeEffect,
    clock,
    logger,
    prepare,
    idempotencyTtlSeconds: timing.idempotencyTtlSeconds,
    waitRecheckMs: timing.waitRecheckMs,
    workersRunning: () => workers.length > 0 && workers.every((worker) => worker.isRunning()),
    retention,
  });

  const jobDeps = {
    store,
    stepper,
    decider,
    executeEffect: options.executeEffect,
    clock,
    logger,
    timeScale: timing.timeScale,
    ...(options.metrics ? { metrics: options.metrics } : {}),
  };
  const runRecovery = () =>
    Promise.all([
      recoverOutbox(store, queue, logger, (letter) => answerDeadLetter(jobDeps, letter)),
      syncClock(),
    ]).catch((error: unknown) =>
      logger.warn({ reason: errorMessage(error) }, "outbox recovery pass failed; the next one retries"),
    );

  const runRetention = () =>
    prepare()
      .then(() => retention.sweep())
      .catch((error: unknown) =>
        logger.warn({ reason: errorMessage(error) }, "retention pass failed; the next one retries"),
      );

  // "reconnecting": the connection was lost and ioredis waits before the next attempt.
  const isReachable = () => redis.status !== "reconnecting" && redis.status !== "end";
  const reachableService = withStoreErrors(service, isReachable);
  const emergencyStop = new EmergencyStop({
    redis,
    keys,
    service: reachableService,
    activeIds: () => store.activeIds(),
    note: (id, entries) => store.note(id, entries),
    clock,
  });

  return {
    retention,
    // Outermost: the stop's own Redis reads fail as STORE_UNAVAILABLE (503) like the service's.
    service: withStoreErrors(withEmergencyStop(reachableService, emergencyStop), isReachable),
    emergencyStop,
    ...(notifier ? { notifier } : {}),
    async start() {
      // lazyConnect: a service call before start() may already have connected them.
      await Promise.all([redis, subscriber].map((c) => (c.status === "wait" ? c.connect() : undefined)));
      await prepare();
      // One Worker per shard, each running its share of workerConcurrency (queue/queue-shards.ts).
      workers = queuePrefixes.map(
        (queuePrefix) =>
          new Worker<EffectJobData>(
            effectQueueName,
            (job, token, signal) => processEffectJob(jobDeps, job, token, signal),
            {
              connection: bull.connection,
              prefix: queuePrefix,
              concurrency,
              lockDuration: timing.jobLockMs,
              stalledInterval: timing.stalledIntervalMs,
              // A job is only ever stalled by a dead process; it must survive several daemon crashes.
              maxStalledCount: 100,
              autorun: false,
              // Only transient failures reach a retry (queue/effect-worker.ts): wait as the policy says.
              settings: {
                backoffStrategy: (attemptsMade, _type, error) =>
                  retryDelayMs(
                    attemptsMade,
                    { baseMs: timing.retryBackoffMs, capMs: timing.retryBackoffCapMs },
                    classifyError(error).retryAfterMs,
                  ),
              },
            },
          ),
      );
      for (const worker of workers) {
        worker.on("error", (error) => logger.error({ reason: errorMessage(error) }, "effect worker error"));
      }
      await Promise.all(workers.map((worker) => worker.waitUntilReady()));
      await runRecovery();
      for (const worker of workers) {
        worker
          .run()
          .catch((error: unknown) => logger.error({ reason: errorMessage(error) }, "effect worker stopped"));
      }
      sweep = setInterval(runRecovery, timing.recoveryIntervalMs);
      sweep.unref();
      retentionSweep = setInterval(runRetention, timing.retentionSweepMs);
      retentionSweep.unref();
      await notifier?.start(timing.recoveryIntervalMs);
      logger.info(
        { prefix, queueShards: queuePrefixes.length, concurrencyPerShard: concurrency },
        "engine started",
      );
    },
    async stop() {
      if (sweep) clearInterval(sweep);
      if (retentionSweep) clearInterval(retentionSweep);
      // Redis gone: no job can be handed back, and a graceful close would wait for a reconnect
      // that may never come. Everything is dropped at once; the jobs' locks expire and another
      // process (or this one, restarted) takes them over.
      const redisAway = !(await answersWithin(redis, closeStepMs));
      await Promise.all(
        workers.map(async (current) => {
          if (redisAway) {
            await settleWithin(current.close(true), closeStepMs, logger);
            return;
          }
          const graceful = current.close();
          const timer = setTimeout(() => void current.close(true), timing.stopGraceMs);
          await settleWithin(graceful, timing.stopGraceMs + closeStepMs, logger);
          clearTimeout(timer);
        }),
      );
      if (notifier) await settleWithin(notifier.stop(redisAway), timing.stopGraceMs + closeStepMs, logger);
      await settleWithin(
        Promise.all(bullQueues.map((q) => (redisAway ? q.disconnect() : q.close()))),
        closeStepMs,
        logger,
      );
      await settleWithin(bull.close(), closeStepMs, logger);
      // quit() would first (re)connect a client that is not ready; such a client just disconnects.
      await Promise.allSettled(
        [subscriber, redis].map((c) => (c.status === "ready" ? c.quit() : c.disconnect())),
      );
      logger.info("engine stopped");
    },
  };
}
