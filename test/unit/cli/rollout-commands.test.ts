import { afterEach, describe, expect, it } from "vitest";
import { buildHarness, scaleSetA, validSpec } from "../api/api-harness.ts";
import { runCli, urlOf, writeTemp } from "./cli-harness.ts";

let h: Awaited<ReturnType<typeof buildHarness>>;
let env: Record<string, string>;
afterEach(async () => {
  await h.app.close();
});

async function setUp(role: "viewer" | "deployer" | "oncall" = "oncall") {
  h = await buildHarness();
  await h.app.listen({ port: 0, host: "127.0.0.1" });
  env = { CANARYD_URL: urlOf(h.app.server), CANARYD_TOKEN: h.tokens[role] };
}

const specYaml = () =>
  `name: web-1.1.0\nimage:\n  galleryImageVersionId: ${validSpec().image.galleryImageVersionId}\nwaves:\n  - name: first\n    scaleSets:\n      - ${scaleSetA}\n`;

describe("canaryd rollout start", { timeout: 20_000 }, () => {
  it("starts from a YAML file and prints the id; --json prints the rollout", async () => {
    await setUp();
    const file = await writeTemp("spec.yaml", specYaml());
    const run = await runCli(["rollout", "start", "-f", file], env);
    expect(run).toMatchObject({ code: 0, stdout: "started rollout ro-1 (web-1.1.0): pending" });
    const json = await runCli(["rollout", "start", "-f", "-", "--json"], env, JSON.stringify(validSpec()));
    // Same scale set, still active: a conflict, exit 8, with the problem on stderr as JSON.
    expect(json.code).toBe(8);
    expect(JSON.parse(json.stderr)).toMatchObject({
      exitCode: 8,
      problem: { code: "SCALE_SET_BUSY", holderId: "ro-1" },
    });
  });

  it("exits 2 and lists the field errors for an invalid spec", async () => {
    await setUp();
    const file = await writeTemp("spec.json", JSON.stringify({ ...validSpec(), waves: [] }));
    const run = await runCli(["rollout", "start", "-f", file], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("waves:");
  });

  it("exits 2 for a missing file and for a malformed --timeout", async () => {
    await setUp();
    expect((await runCli(["rollout", "start", "-f", "/nonexistent/spec.yaml"], env)).code).toBe(2);
    const file = await writeTemp("spec.yaml", specYaml());
    const bad = await runCli(["rollout", "start", "-f", file, "--wait", "--timeout", "soon"], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("expected a duration");
    expect(h.service.rollouts.size).toBe(0);
  });

  it("exits 7 with a viewer token and 6 when no daemon answers", async () => {
    await setUp("viewer");
    const file = await writeTemp("spec.yaml", specYaml());
    const forbidden = await runCli(["rollout", "start", "-f", file], env);
    expect(forbidden.code).toBe(7);
    expect(forbidden.stderr).not.toContain(env.CANARYD_TOKEN);
    const unreachable = await runCli(["rollout", "list", "--url", "http://127.0.0.1:1"], env);
    expect(unreachable.code).toBe(6);
  });

  it("--wait follows progress and exits 0 when the rollout completes, 3 when it rolls back", async () => {
    await setUp();
    const file = await writeTemp("spec.yaml", specYaml());
    for (const [phase, expected] of [
      ["completed", 0],
      ["rolledBack", 3],
    ] as const) {
      const run = runCli(["rollout", "start", "-f", file, "--wait", "--timeout", "30s"], env);
      await expect.poll(() => h.service.waiting, { timeout: 10_000 }).toBe(1);
      const id = [...h.service.rollouts.keys()].at(-1) as string;
      h.service.setPhase(id, "canary");
      h.service.setPhase(id, phase, "system", phase === "rolledBack" ? "boot gate failed" : undefined);
      const result = await run;
      expect(result.code).toBe(expected);
      expect(result.stdout).toContain(`rollout ${id} ended: ${phase}`);
      // Live progress came from the event stream: each timeline entry, in order.
      expect(result.stdout).toMatch(/#1 +started[\s\S]*#2 +phase[\s\S]*#3 +phase/);
    }
  });

  it("--wait exits 5 with the current state when the timeout passes", async () => {
    await setUp();
    const file = await writeTemp("spec.yaml", specYaml());
    const run = await runCli(["rollout", "start", "-f", file, "--wait", "--timeout", "1s", "--json"], env);
    expect(run.code).toBe(5);
    expect(JSON.parse(run.stdout)).toMatchObject({ id: "ro-1", phase: "pending" });
  });
});

describe("canaryd rollout plan, list, status, actions", { timeout: 20_000 }, () => {
  it("plan prints the batches and changes nothing", async () => {
    await setUp();
    const file = await writeTemp("spec.yaml", specYaml());
    const run = await runCli(["rollout", "plan", "-f", file], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("preflight: would start");
    expect(run.stdout).toContain("web-a");
    expect(run.stdout).toContain("batch 0 canary: 1 instance(s) [0]");
    expect(h.service.rollouts.size).toBe(0);
  });

  it("plan exits 9 when preflight would refuse", async () => {
    await setUp();
    h.service.plan = async () => ({
      waves: [],
      findings: [
        { scaleSetId: scaleSetA, code: "UPGRADE_POLICY_AUTOMATIC", message: "would roll every instance" },
      ],
      wouldStart: false,
    });
    const file = await writeTemp("spec.yaml", specYaml());
    const run = await runCli(["rollout", "plan", "-f", file], env);
    expect(run.code).toBe(9);
    expect(run.stdout).toContain("UPGRADE_POLICY_AUTOMATIC on web-a: would roll every instance");
  });

  it("list, status and an action with a reason", async () => {
    await setUp();
    await h.service.start(validSpec() as never, { actor: { id: "ci" } });
    const list = await runCli(["rollout", "list"], env);
    expect(list.stdout).toMatch(/^ID\s+NAME\s+PHASE/);
    expect(list.stdout).toMatch(/ro-1\s+web-1.1.0\s+pending/);
    const pause = await runCli(["rollout", "pause", "ro-1", "--reason", "freeze"], env);
    expect(pause).toMatchObject({ code: 0, stdout: "pause: rollout ro-1 is paused" });
    expect(h.service.actions[0]).toMatchObject({
      action: "pause",
      reason: "freeze",
      actor: { id: "oncall-bot" },
    });
    const status = await runCli(["rollout", "status", "ro-1", "--timeline"], env);
    expect(status.stdout).toContain("rollout ro-1  web-1.1.0  phase: paused");
    expect(status.stdout).toContain("phase paused: freeze");
    expect(status.stdout).not.toContain("dead letters");
    h.service.deadLettersById.set("ro-1", [
      {
        rolloutId: "ro-1",
        effectId: "e7",
        kind: "setModelImage",
        scaleSetId: scaleSetA,
        reason: "writing the model: AuthorizationFailed",
        code: "AZURE_403",
        attempts: 1,
        transient: false,
        at: "2026-12-04T15:00:00.000Z",
      },
    ]);
    const dead = await runCli(["rollout", "status", "ro-1"], env);
    expect(dead.stdout).toContain("dead letters (given up, never run again): 1");
    expect(dead.stdout).toContain(
      "setModelImage on web-a: permanent, attempted once: AZURE_403: writing the model: AuthorizationFailed",
    );
    const missing = await runCli(["rollout", "status", "ro-9"], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no rollout with id ro-9");
  });

  it("an action the phase does not allow exits 8", async () => {
    await setUp();
    await h.service.start(validSpec() as never, { actor: { id: "ci" } });
    h.service.setPhase("ro-1", "rolledBack");
    expect((await runCli(["rollout", "approve", "ro-1"], env)).code).toBe(8);
  });

  it("events prints the timeline as JSON lines until the rollout ends", async () => {
    await setUp();
    await h.service.start(validSpec() as never, { actor: { id: "ci" } });
    h.service.setPhase("ro-1", "completed");
    const run = await runCli(["rollout", "events", "ro-1", "--json", "--after", "1"], env);
    expect(run.code).toBe(0);
    expect(run.stdout.split("\n").map((l) => JSON.parse(l).seq)).toEqual([2]);
  });
});

describe("canaryd rollback", { timeout: 20_000 }, () => {
  it("rolls back by scale set with a reason", async () => {
    await setUp();
    await h.service.start(validSpec() as never, { actor: { id: "ci" } });
    h.service.setPhase("ro-1", "completed");
    const run = await runCli(["rollback", "--scale-set", scaleSetA, "--reason", "errors up"], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("rolling back rollout ro-1");
    expect(h.service.actions[0]).toMatchObject({ action: "rollback", reason: "errors up" });
  });

  it("needs exactly one of an id or --scale-set, and a reason", async () => {
    await setUp();
    expect((await runCli(["rollback", "--reason", "x"], env)).code).toBe(2);
    expect((await runCli(["rollback", "ro-1", "--scale-set", scaleSetA, "--reason", "x"], env)).code).toBe(2);
    expect((await runCli(["rollback", "ro-1"], env)).code).toBe(2);
    expect(h.service.actions).toHaveLength(0);
  });

  it("exits 7 for a deployer: rollback needs oncall", async () => {
    await setUp("deployer");
    await h.service.start(validSpec() as never, { actor: { id: "ci" } });
    expect((await runCli(["rollback", "ro-1", "--reason", "x"], env)).code).toBe(7);
  });
});
