/**
 * Delivery of notifications. Entries are committed with the step that raised them (events.ts,
 * engine/store/store-scripts.ts) into `<prefix>:notifications:outbox`; a BullMQ queue `notifications` carries
 * one job per entry with the entry's id as job id, so several daemons (and a recovery pass racing
 * a step) make one job, and one worker at a time runs it.
 *
 * A job reads its entry (gone: delivered already, the job is a duplicate and does nothing), sends
 * once, and on success deletes the entry: the durable "done" mark. A failure is retried with the
 * engine's retry policy backoff (retryDelayMs: capped exponential, full jitter) until
 * `maxRetrySeconds` after the delivery was created; then, or at once on a permanent failure (4xx,
 * a refused host), the entry moves to `<prefix>:notifications:deadletters` in one script. Each
 * entry retries on its own job: a failing subscription never delays or repeats the others.
 *
 * Crash behaviour: a daemon killed after the receiver got a request but before the entry was
 * deleted leaves the entry; the job's lock expires and another worker (or the restarted daemon)
 * sends it again with the SAME idempotency key. So delivery is at least once per (event,
 * subscription) and exactly once per idempotency key for a receiver that keeps the keys it saw.
 *
 * Approval reminders: after an approvalRequired delivery whose subscription has `remindSeconds`,
 * a delayed job `…remind<n>` makes reminder n while the rollout still awaits that approval.
 */
import { type ConnectionOptions, DelayedError, type Job, Queue, Worker } from "bullmq";
import type { Logger } from "pino";
import type { NotificationHook } from "../engine/core/outbox.ts";
import { retryDelayMs } from "../engine/core/retry-policy.ts";
import type { RedisClient } from "../engine/store/redis-connection.ts";
import { luaScript, runScript } from "../engine/store/redis-script.ts";
import { errorMessage, redactSecrets } from "../logging/redact.ts";
import type { NotificationsConfig } from "./config.ts";
import { deriveDeliveries, type NotificationDelivery } from "./events.ts";
import { send } from "./send.ts";

export const notificationQueueName = "notifications";

export interface NotificationDeadLetter {
  id: string;
  eventId: string;
  subscription: string;
  service: string;
  trigger: string;
  rolloutId: string;
  attempts: number;
  reason: string;
  createdAt: string;
  at: string;
}

export interface NotificationMetrics {
  notificationSent(service: string): void;
  notificationFailed(service: string): void;
  notificationDead(service: string): void;
}

export interface NotifierOptions {
  config: NotificationsConfig;
  prefix: string;
  redis: RedisClient;
  /** BullMQ connection options or client (the engine's). */
  connection: ConnectionOptions;
  logger: Logger;
  metrics?: NotificationMetrics;
  /** Whether the rollout still waits for the approval that raised `eventId` (reminders). */
  awaitingApproval?: (rolloutId: string) => Promise<boolean>;
  /** How long a job stays locked to one worker; a killed worker's job is taken over after it. */
  jobLockMs?: number;
  stalledIntervalMs?: number;
}

/** Deletes the entry (delivered); remembers a Slack thread's first ts. KEYS: outbox, threads. ARGV: id, threadField, ts. */
const doneScript = luaScript(`
redis.call('HDEL', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) end
return 1
`);

/** Moves the entry to the dead letters. KEYS: outbox, deadletters. ARGV: id, letter. */
const deadScript = luaScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`);

/** Saves a failed attempt's count, only while the entry is pending. KEYS: outbox. ARGV: id, entry. */
const attemptScript = luaScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`);

/** BullMQ job ids must not contain ':'. */
const jobId = (id: string) => id.replaceAll(":", "_");

type JobData = { id: string } | { remind: string; n: number };

export class Notifier implements NotificationHook {
  readonly options: NotifierOptions;
  readonly queue: Queue;
  readonly keys: {
    outbox: string;
    dead: string;
    threads: string;
    latestApproval: string;
    threadLock: (f: string) => string;
  };
  private worker: Worker | undefined;
  private sweep: NodeJS.Timeout | undefined;

  constructor(options: NotifierOptions) {
    this.options = options;
    const p = options.prefix;
    this.keys = {
      outbox: `${p}:notifications:outbox`,
      dead: `${p}:notifications:deadletters`,
      threads: `${p}:notifications:threads`,
      latestApproval: `${p}:notifications:approvals`,
      threadLock: (field) => `${p}:notifications:threadlock:${field}`,
    };
    this.queue = new Queue(notificationQueueName, { connection: options.connection, prefix: p });
    this.queue.on("error", (error) =>
      options.logger.warn({ reason: error.message }, "notifications queue error"),
    );
  }

  derive(input: Parameters<NotificationHook["derive"]>[0]): { id: string; json: string }[] {
    return deriveDeliveries(this.options.config, input, new Date()).map((d) => ({
      id: d.id,
      json: JSON.stringify(d),
    }));
  }

  async enqueue(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.queue.addBulk(
      ids.map((id) => ({
        name: "deliver",
        data: { id } satisfies JobData,
        opts: { jobId: jobId(id), removeOnComplete: true, removeOnFail: true },
      })),
    );
  }

  /** Re-enqueues every pending entry: at start and periodically (a crash between commit and enqueue). */
  async recover(): Promise<number> {
    const ids = await this.options.redis.hkeys(this.keys.outbox);
    await this.enqueue(ids);
    return ids.length;
  }

  async deadLetters(): Promise<NotificationDeadLetter[]> {
    const values = await this.options.redis.hvals(this.keys.dead);
    return values
      .map((v) => JSON.parse(v) as NotificationDeadLetter)
      .sort((a, b) => a.at.localeCompare(b.at));
  }

  async start(recoveryIntervalMs = 15_000): Promise<void> {
    this.worker = new Worker(
      notificationQueueName,
      (job, token, signal) => this.process(job, token, signal),
      {
        connection: this.options.connection,
        prefix: this.options.prefix,
        concurrency: this.options.config.concurrency,
        lockDuration: this.options.jobLockMs ?? 30_000,
        stalledInterval: this.options.stalledIntervalMs ?? 30_000,
        maxStalledCount: 100,
        autorun: false,
      },
    );
    this.worker.on("error", (error) =>
      this.options.logger.error({ reason: errorMessage(error) }, "notification worker error"),
    );
    await this.worker.waitUntilReady();
    await this.recover().catch((error: unknown) =>
      this.options.logger.warn(
        { reason: errorMessage(error) },
        "notification recovery failed; the next pass retries",
      ),
    );
    void this.worker
      .run()
      .catch((error: unknown) =>
        this.options.logger.error({ reason: errorMessage(error) }, "notification worker stopped"),
      );
    this.sweep = setInterval(() => void this.recover().catch(() => undefined), recoveryIntervalMs);
    this.sweep.unref();
  }

  async stop(force = false): Promise<void> {
    if (this.sweep) clearInterval(this.sweep);
    await this.worker?.close(force);
    await this.queue.close();
  }

  private async process(job: Job<JobData>, token: string | undefined, signal: AbortSignal | undefined) {
    if ("remind" in job.data) return this.remind(job.data.remind, job.data.n);
    const { redis, config, logger } = this.options;
    const id = job.data.id;
    const raw = await redis.hget(this.keys.outbox, id);
    if (!raw) return "skipped";
    const delivery = JSON.parse(raw) as NotificationDelivery;
    const service = config.services[delivery.service];
    const sub = config.subscriptions.find((s) => s.name === delivery.subscription);
    if (!service || !sub)
      return this.deadLetter(delivery, "its subscription or service is no longer configured");

    const threadField =
      service.kind === "slack" && service.tokenSecret !== undefined
        ? `${sub.name}.${delivery.rollout.id}`
        : "";
    let threadTs: string | undefined;
    let lockKey: string | undefined;
    if (threadField) {
      threadTs = (await redis.hget(this.keys.threads, threadField)) ?? undefined;
      if (!threadTs) {
        // One thread per rollout: while the first message is on its way, the others wait for its ts.
        lockKey = this.keys.threadLock(threadField);
        const got = await redis.set(lockKey, id, "PX", (config.timeoutSeconds + 5) * 1000, "NX");
        if (got !== "OK" && (await redis.get(lockKey)) !== id) {
          await job.moveToDelayed(Date.now() + 300, token);
          throw new DelayedError();
        }
        // The holder before us may have recorded the thread between our read and our lock.
        threadTs = (await redis.hget(this.keys.threads, threadField)) ?? undefined;
      }
    }
    // The lock is released only after the thread's ts is recorded (below), never between the send
    // and that write: a waiter that got the lock in between would start a second thread.
    const release = async () => {
      if (lockKey) await redis.del(lockKey);
    };
    const result = await send(service, delivery, sub.to, {
      config,
      ...(threadTs ? { threadTs } : {}),
      ...(signal ? { signal } : {}),
      now: () => new Date(),
    }).catch(async (error: unknown) => {
      await release();
      throw error;
    });
    const log = {
      notification: id,
      subscription: delivery.subscription,
      service: delivery.service,
      trigger: delivery.trigger,
      rolloutId: delivery.rollout.id,
    };
    if (result.kind === "sent") {
      await runScript(
        redis,
        doneScript,
        [this.keys.outbox, this.keys.threads],
        [id, result.threadTs ? threadField : "", result.threadTs ?? ""],
      );
      await release();
      this.options.metrics?.notificationSent(service.kind);
      logger.info({ ...log, attempts: delivery.attempts + 1 }, "notification sent");
      await this.scheduleReminder(delivery, sub.remindSeconds);
      return "sent";
    }
    await release();
    const attempts = delivery.attempts + 1;
    const reason = redactSecrets(result.reason);
    const deadline = Date.parse(delivery.createdAt) + config.maxRetrySeconds * 1000;
    const delay = retryDelayMs(attempts, {
      baseMs: config.retryBackoffSeconds * 1000,
      capMs: config.retryBackoffMaxSeconds * 1000,
    });
    if (result.permanent || Date.now() + delay >= deadline) {
      logger.warn(
        { ...log, attempts, reason, permanent: result.permanent },
        "notification given up; dead-lettered",
      );
      return this.deadLetter({ ...delivery, attempts }, reason);
    }
    this.options.metrics?.notificationFailed(service.kind);
    logger.warn({ ...log, attempts, reason, retryInMs: delay }, "notification failed; retrying");
    const saved = await runScript(
      redis,
      attemptScript,
      [this.keys.outbox],
      [id, JSON.stringify({ ...delivery, attempts, lastError: reason })],
    );
    if (saved !== 1) return "skipped";
    await job.moveToDelayed(Date.now() + delay, token);
    throw new DelayedError();
  }

  private async deadLetter(delivery: NotificationDelivery, reason: string) {
    const letter: NotificationDeadLetter = {
      id: delivery.id,
      eventId: delivery.eventId,
      subscription: delivery.subscription,
      service: delivery.service,
      trigger: delivery.trigger,
      rolloutId: delivery.rollout.id,
      attempts: delivery.attempts,
      reason,
      createdAt: delivery.createdAt,
      at: new Date().toISOString(),
    };
    const moved = await runScript(
      this.options.redis,
      deadScript,
      [this.keys.outbox, this.keys.dead],
      [delivery.id, JSON.stringify(letter)],
    );
    const kind = this.options.config.services[delivery.service]?.kind ?? "unknown";
    if (moved === 1) this.options.metrics?.notificationFailed(kind);
    if (moved === 1) this.options.metrics?.notificationDead(kind);
    return "dead";
  }

  private async scheduleReminder(delivery: NotificationDelivery, remindSeconds: number | undefined) {
    if (delivery.trigger !== "approvalRequired" || remindSeconds === undefined) return;
    const origin = delivery.reminder === undefined ? delivery.id : delivery.id.replace(/\.remind\d+$/, "");
    const n = (delivery.reminder ?? 0) + 1;
    if (delivery.reminder === undefined)
      await this.options.redis.hset(
        this.keys.latestApproval,
        `${delivery.subscription}.${delivery.rollout.id}`,
        origin,
        `${origin}.template`,
        JSON.stringify(delivery),
      );
    await this.queue.add("remind", { remind: origin, n } satisfies JobData, {
      jobId: jobId(`${origin}.remind${n}`),
      delay: remindSeconds * 1000,
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  /** Makes reminder n of the approvalRequired delivery `origin`, while the rollout still waits for that approval. */
  private async remind(origin: string, n: number) {
    const { redis } = this.options;
    const [eventId, subscription] = [
      origin.slice(0, origin.lastIndexOf(".")),
      origin.slice(origin.lastIndexOf(".") + 1),
    ];
    const rolloutId = eventId.split(".")[0] ?? "";
    const latest = await redis.hget(this.keys.latestApproval, `${subscription}.${rolloutId}`);
    if (latest !== origin || !(await this.options.awaitingApproval?.(rolloutId))) {
      // The chain ends: approved, rolled back, or a newer approval request has its own chain.
      await redis.hdel(this.keys.latestApproval, `${origin}.template`);
      return "skipped";
    }
    const id = `${origin}.remind${n}`;
    const sub = this.options.config.subscriptions.find((s) => s.name === subscription);
    if (!sub) return "skipped";
    // The original entry is gone once delivered; the reminder carries a fresh copy made from the rollout.
    const template = await redis.hget(this.keys.latestApproval, `${origin}.template`);
    if (!template) return "skipped";
    const base = JSON.parse(template) as NotificationDelivery;
    const reminder: NotificationDelivery = {
      ...base,
      id,
      reminder: n,
      attempts: 0,
      createdAt: new Date().toISOString(),
    };
    delete reminder.lastError;
    await redis.hsetnx(this.keys.outbox, id, JSON.stringify(reminder));
    await this.enqueue([id]);
    return "reminded";
  }
}
