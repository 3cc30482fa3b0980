/**
 * The README's walkthrough as a pipeline lives it: `canaryd serve` as a process on the simulated
 * demo fleet, driven only through the `canaryd` CLI, asserting exit codes.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DaemonProcess, projectRoot, runCanaryd, runCli } from "../support/daemon-process.ts";

const demoScenario = join(projectRoot, "config/simulator/demo.yaml");
const example = (name: string) => join(projectRoot, "config/examples", name);
const webB =
  "/subscriptions/5f2b8c1e-3a4d-4e6f-9b0a-1c2d3e4f5a6b/resourceGroups/rg-demo/providers/Microsoft.Compute/virtualMachineScaleSets/web-b";

let daemon: DaemonProcess;
let cliEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  const cwd = mkdtempSync(join(tmpdir(), "canaryd-cli-e2e-"));
  const config = join(cwd, "e2e.yaml");
  writeFileSync(
    config,
    "auth:\n  disabled: true\nengine:\n  pollIntervalSeconds: 0.5\n  gateRetrySeconds: 1\n  replicationPollSeconds: 0.5\n",
  );
  daemon = runCanaryd(
    ["serve", "--simulate", demoScenario, "--config", config, "--time-scale", "5"],
    {
      PORT: "0",
      REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
      CANARYD_REDIS_KEY_PREFIX: `{e2e-cli-${process.pid}-${Date.now()}}`,
    },
    cwd,
  );
  cliEnv = { CANARYD_URL: await daemon.serving(60_000) };
}, 90_000);

afterAll(async () => {
  await daemon?.stop("SIGTERM");
});

describe("a pipeline driving canaryd through the CLI", () => {
  it("exits 0 when a good version completes across both waves", async () => {
    const run = await runCli(
      ["rollout", "start", "-f", example("web-1.1.0.yaml"), "--wait", "--timeout", "3m", "--json"],
      cliEnv,
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
  }, 200_000);

  it("exits 3 when a version that panics at boot rolls back on its own", async () => {
    const run = await runCli(
      ["rollout", "start", "-f", example("web-1.2.0.yaml"), "--wait", "--timeout", "3m", "--json"],
      cliEnv,
    );
    expect(run.code).toBe(3);
  }, 200_000);

  it("rolls back the completed rollout on a scale set with one call naming only the scale set", async () => {
    const run = await runCli(
      ["rollback", "--scale-set", webB, "--reason", "e2e: checkout errors", "--json"],
      cliEnv,
    );
    expect(run.code).toBe(0);
    const acted = JSON.parse(run.stdout) as { id: string; name: string };
    expect(acted.name).toBe("web-1.1.0");

    const wait = await runCli(["rollout", "wait", acted.id, "--timeout", "3m", "--json"], cliEnv);
    expect(wait.code).toBe(3);
    const status = await runCli(["rollout", "status", acted.id, "--json"], cliEnv);
    const rollout = JSON.parse(status.stdout) as { phase: string; reason: string };
    expect(rollout.phase).toBe("rolledBack");
    expect(rollout.reason).toContain("e2e: checkout errors");
  }, 200_000);

  it("exits 9 when preflight rejects a scale set with the Automatic upgrade policy", async () => {
    const run = await runCli(
      ["rollout", "start", "-f", example("web-auto.yaml"), "--wait", "--timeout", "1m", "--json"],
      cliEnv,
    );
    expect(run.code).toBe(9);
    expect(run.stdout).toContain("web-auto");
  }, 120_000);
});
