/**
 * The benchmark's handle on canaryd under test: spawns bench/canaryd-process.ts, talks to its
 * API over HTTP like any client, and asks it for its step figures over IPC.
 */
import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import type { RolloutView, TimelineEntry } from "../src/domain/rollout-view.ts";
import type { RolloutSpecInput } from "../src/domain/spec.ts";
import type { BenchDaemonMessage, BenchDaemonOptions, StepStats } from "./canaryd-process.ts";

export interface BenchDaemon {
  url: string;
  pid: number;
  startRollout(spec: RolloutSpecInput): Promise<RolloutView>;
  /** Long-polls until the rollout is terminal or the deadline (performance.now() ms) passes. */
  waitTerminal(id: string, deadline: number): Promise<{ view: RolloutView; finished: boolean }>;
  timeline(id: string): Promise<TimelineEntry[]>;
  /** Step figures since the previous call. */
  stats(): Promise<StepStats>;
  stop(): Promise<void>;
}

export async function startBenchDaemon(options: BenchDaemonOptions): Promise<BenchDaemon> {
  const child: ChildProcess = fork(
    new URL("./canaryd-process.ts", import.meta.url),
    [JSON.stringify(options)],
    {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      // BENCH_DAEMON_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles canaryd under test.
      execArgv: [
        ...process.execArgv,
        ...(process.env.BENCH_DAEMON_NODE_OPTIONS?.split(" ").filter(Boolean) ?? []),
      ],
    },
  );
  const next = async <T extends BenchDaemonMessage["type"]>(type: T) => {
    for (;;) {
      const [message] = (await once(child, "message")) as [BenchDaemonMessage];
      if (message.type === type) return message as Extract<BenchDaemonMessage, { type: T }>;
    }
  };
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`canaryd under test exited (code ${String(code)})`);
  });
  exited.catch(() => {});
  const { url } = await Promise.race([next("ready"), exited]);

  async function call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
    });
    const json = (await response.json()) as T;
    if (response.status >= 300 && response.status !== 202)
      throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(json)}`);
    return { status: response.status, body: json };
  }

  return {
    url,
    pid: child.pid ?? 0,
    startRollout: async (spec) => (await call<RolloutView>("POST", "/v1/rollouts", spec)).body,
    async waitTerminal(id, deadline) {
      for (;;) {
        const left = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
        const { status, body } = await call<RolloutView>(
          "GET",
          `/v1/rollouts/${id}/wait?timeoutSeconds=${Math.min(60, left)}`,
        );
        if (status === 200) return { view: body, finished: true };
        if (left === 0) return { view: body, finished: false };
      }
    },
    async timeline(id) {
      const { body } = await call<{ timeline: TimelineEntry[] }>("GET", `/v1/rollouts/${id}`);
      return body.timeline;
    },
    async stats() {
      const reply = next("stats");
      child.send({ type: "stats" });
      return (await reply).stats;
    },
    async stop() {
      // A workload that ran out of time still has work in flight: it is not waited for.
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      child.send({ type: "stop" });
      await once(child, "exit");
      clearTimeout(killer);
    },
  };
}
