/**
 * A crash lab: the Azure simulator in this process, `canaryd serve` daemons as real child
 * processes on the shared Redis (or a test's Redis Cluster) under a key prefix of their own, and the HTTP calls a pipeline
 * makes. Crash tests kill the daemons with SIGKILL and start new ones on the same Redis and
 * simulator. `close()` kills every daemon it started and deletes every key under its prefix,
 * also when the test failed.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { RolloutPhase, RolloutView, TimelineEntry } from "../../src/domain/rollout-view.ts";
import type { OutboxEntry } from "../../src/engine/core/outbox.ts";
import { engineKeys } from "../../src/engine/store/keys.ts";
import { type RunningSimulator, type Scenario, startSimulator } from "../../src/simulator/index.ts";
import { type DaemonProcess, projectRoot, runCanaryd } from "./daemon-process.ts";

export const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const demoSubscription = "5f2b8c1e-3a4d-4e6f-9b0a-1c2d3e4f5a6b";
export const demoScenario = join(projectRoot, "config/simulator/demo.yaml");

export const scaleSetId = (name: string) =>
  `/subscriptions/${demoSubscription}/resourceGroups/rg-demo/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
export const galleryVersionId = (version: string) =>
  `/subscriptions/${demoSubscription}/resourceGroups/rg-demo/providers/Microsoft.Compute/galleries/demoGallery/images/web/versions/${version}`;

export interface CrashLabOptions {
  /** The simulated fleet: the demo scenario unless given (a parsed scenario or a YAML path). */
  scenario?: Scenario | string;
  /** Simulated seconds per second, for the simulator and the daemons' engine clocks alike. */
  timeScale: number;
  /** Label in the key prefix and temp dir, for finding leftovers. */
  label: string;
  /**
   * Seed nodes (`host:port`) of a Redis Cluster the daemons use instead of the shared Redis. The
   * test owns that cluster and removes it; `close()` then deletes no keys.
   */
  clusterNodes?: string[];
  /** The simulator's metrics ingestion delay (the demo scenario's 120 s unless given). */
  metricsIngestionDelaySeconds?: number;
  /** More top-level YAML lines for the daemons' configuration file (e.g. a `notifications:` block). */
  extraConfig?: string[];
  /** More environment variables for every daemon (e.g. `CANARYD_QUEUE_SHARDS`). */
  env?: Record<string, string>;
}

export type RolloutDetail = RolloutView & { timeline: TimelineEntry[] };

export interface CrashLab {
  sim: RunningSimulator;
  prefix: string;
  dir: string;
  /** The simulator's state file: its fleet, with every upgrade operation it accepted. */
  stateFile: string;
  daemons: DaemonProcess[];
  /** Starts `canaryd serve` on the lab's Redis prefix and simulator; resolves with its API URL. */
  startDaemon(): Promise<{ daemon: DaemonProcess; url: string }>;
  startRollout(url: string, spec: Record<string, unknown>): Promise<RolloutView>;
  get(url: string, id: string): Promise<RolloutDetail>;
  /** Resolves once a request to `operation` is held by a hold fault; fails after `timeoutMs`. */
  waitForHeld(operation: string, timeoutMs?: number): Promise<void>;
  /** Polls until the rollout is in one of `phases` (or terminal); fails after `timeoutMs`. */
  waitForPhase(url: string, id: string, phases: RolloutPhase[], timeoutMs: number): Promise<RolloutDetail>;
  /**
   * The rollout's outbox as Redis holds it now: the effects emitted and not yet answered, with the
   * progress of unfinished ones. What a kill at this instant leaves for the next daemon.
   */
  outbox(id: string): Promise<OutboxEntry[]>;
  /** Long-polls `/wait` until the rollout is terminal; fails after `timeoutMs`. */
  waitForTerminal(url: string, id: string, timeoutMs: number): Promise<RolloutDetail>;
  close(): Promise<void>;
}

const terminal = new Set<RolloutPhase>(["completed", "rolledBack", "rejected", "failed"]);

export async function startCrashLab(options: CrashLabOptions): Promise<CrashLab> {
  const dir = await mkdtemp(join(tmpdir(), `canaryd-${options.label}-`));
  const prefix = `{${options.label}-${randomBytes(5).toString("hex")}}`;
  const connectionFile = join(dir, "simulator.json");
  const stateFile = join(dir, "simulator-state.json");
  const configFile = join(dir, "canaryd.yaml");
  // The demo's short polls; auth off explicitly (a simulated fleet on loopback).
  await writeFile(
    configFile,
    [
      "auth:",
      "  disabled: true",
      "engine:",
      "  pollIntervalSeconds: 1",
      "  gateRetrySeconds: 5",
      "  replicationPollSeconds: 2",
      // A killed daemon's jobs are taken over within about three seconds instead of 30-60 s. The
      // job lock stays well above a busy event loop's pauses, so a live worker is not taken for dead.
      "  jobLockSeconds: 3",
      "  stalledCheckSeconds: 1",
      "  recoverySweepSeconds: 1",
      "  stepLockSeconds: 3",
      "  retryBackoffSeconds: 0.2",
      "log:",
      "  level: info",
      ...(options.extraConfig ?? []),
      "",
    ].join("\n"),
  );
  const sim = await startSimulator({
    scenario: options.scenario ?? demoScenario,
    port: 0,
    timeScale: options.timeScale,
    lroRetryAfterSeconds: 0,
    ...(options.metricsIngestionDelaySeconds === undefined
      ? {}
      : { metricsIngestionDelaySeconds: options.metricsIngestionDelaySeconds }),
    fresh: true,
    connectionFile,
    stateFile,
    certDir: join(tmpdir(), "canaryd-crash-lab-certs"),
  });
  const daemons: DaemonProcess[] = [];

  const request = async <T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> => {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
    return { status: response.status, body: (await response.json()) as T };
  };

  const lab: CrashLab = {
    sim,
    prefix,
    dir,
    stateFile,
    daemons,
    async startDaemon() {
      const daemon = runCanaryd(
        ["serve", "--config", configFile, "--time-scale", String(options.timeScale)],
        {
          ...(options.clusterNodes
            ? { REDIS_URL: "", CANARYD_REDIS_CLUSTER_NODES: options.clusterNodes.join(",") }
            : { REDIS_URL: redisUrl }),
          CANARYD_REDIS_KEY_PREFIX: prefix,
          CANARYD_AZURE_CREDENTIAL: "connectionFile",
          CANARYD_AZURE_CONNECTION_FILE: connectionFile,
          PORT: "0",
          ...options.env,
        },
        projectRoot,
      );
      daemons.push(daemon);
      return { daemon, url: await daemon.serving(30_000) };
    },
    async waitForHeld(operation, timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const logs = daemons.map((d) => d.output().split("\n").slice(-15).join("\n")).join("\n---\n");
          reject(new Error(`no ${operation} request held within ${timeoutMs} ms; daemon logs:\n${logs}`));
        }, timeoutMs);
      });
      try {
        await Promise.race([sim.waitForHeld(operation), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async startRollout(url, spec) {
      const { status, body } = await request<RolloutView>(`${url}/v1/rollouts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(spec),
      });
      if (status !== 201) throw new Error(`starting the rollout answered ${status}: ${JSON.stringify(body)}`);
      return body;
    },
    async get(url, id) {
      const { status, body } = await request<RolloutDetail>(`${url}/v1/rollouts/${id}`);
      if (status !== 200) throw new Error(`GET rollout ${id} answered ${status}: ${JSON.stringify(body)}`);
      return body;
    },
    async waitForPhase(url, id, phases, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let last: RolloutDetail | undefined;
      while (Date.now() < deadline) {
        last = await lab.get(url, id);
        if (phases.includes(last.phase) || terminal.has(last.phase)) return last;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(
        `rollout ${id} not in ${phases.join("|")} within ${timeoutMs} ms (last: ${last?.phase})`,
      );
    },
    async outbox(id) {
      if (options.clusterNodes) throw new Error("outbox(): the lab reads the shared Redis only");
      const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
      await redis.connect();
      try {
        const entries = await redis.hvals(engineKeys(prefix).outbox(id));
        return entries.map((json) => JSON.parse(json) as OutboxEntry);
      } finally {
        redis.disconnect();
      }
    },
    async waitForTerminal(url, id, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const seconds = Math.max(1, Math.min(10, Math.floor((deadline - Date.now()) / 1000)));
        const { status } = await request<RolloutView>(
          `${url}/v1/rollouts/${id}/wait?timeoutSeconds=${seconds}`,
        );
        if (status === 200) return lab.get(url, id);
        if (status !== 202) throw new Error(`waiting for rollout ${id} answered ${status}`);
      }
      const last = await lab.get(url, id);
      throw new Error(
        `rollout ${id} not terminal within ${timeoutMs} ms: ${last.phase} (${last.reason ?? ""})`,
      );
    },
    async close() {
      await Promise.all(daemons.splice(0).map((daemon) => daemon.stop("SIGKILL")));
      sim.clearFaults();
      await sim.close();
      if (!options.clusterNodes) await deleteKeys(prefix);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return lab;
}

/** SCAN + DEL of every key under the prefix (BullMQ's included: the queue prefix is the same). */
export async function deleteKeys(prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
  await redis.connect();
  let deleted = 0;
  try {
    // The prefix is a hash tag like `{crash-ab12}`: glob-escape its braces.
    const match = `${prefix.replace(/[{}[\]*?\\]/g, "\\$&")}*`;
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", match, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  return deleted;
}
