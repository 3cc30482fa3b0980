/**
 * The trigger table against the machine that writes the timeline, and the derivation's ids.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rolloutSpecSchema } from "../../../src/domain/spec.ts";
import { notificationsSchema } from "../../../src/notifications/config.ts";
import { deriveDeliveries } from "../../../src/notifications/events.ts";
import { triggerNames, triggerTable } from "../../../src/notifications/triggers.ts";

const machineSource = readdirSync("machines")
  .filter((f) => f.endsWith(".ts"))
  .map((f) => readFileSync(join("machines", f), "utf8"))
  .join("\n");

describe("the trigger table", () => {
  // Mutation: rename a timeline entry type in the machine (e.g. wave.started) -> its trigger never fires.
  it.each(triggerNames)("%s is raised by a timeline entry the machine writes", (name) => {
    expect(machineSource).toContain(`"${triggerTable[name].entry}"`);
  });

  it("covers every trigger the issue names", () => {
    expect([...triggerNames].sort()).toEqual(
      [
        "rolloutStarted",
        "rolloutCompleted",
        "rolloutRolledBack",
        "rolloutFailed",
        "rolloutRejected",
        "waveStarted",
        "waveCompleted",
        "gateFailed",
        "gateInconclusive",
        "approvalRequired",
        "paused",
        "resumed",
      ].sort(),
    );
  });
});

describe("deriving deliveries", () => {
  const config = notificationsSchema.parse({
    services: { x: { kind: "webhook", url: "https://hooks.example.com/", signingSecret: "s" } },
    secrets: { s: "v" },
    allowedHosts: ["hooks.example.com"],
    subscriptions: [
      { name: "a", service: "x", triggers: ["gateFailed", "waveStarted"] },
      { name: "b", service: "x", triggers: ["gateFailed"], minSeverity: "warning" },
    ],
  });
  const spec = rolloutSpecSchema.parse({
    name: "web",
    image: {
      galleryImageVersionId:
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0",
    },
    waves: [
      {
        name: "w",
        scaleSets: [
          "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachineScaleSets/a",
        ],
      },
    ],
    strategy: { canary: { instances: 1 } },
    gates: [{ kind: "instanceHealth" }],
  });
  const input = {
    rolloutId: "ro-1",
    revision: 7,
    rollout: { name: "web", phase: "canary", spec },
    entries: [
      { type: "scaleSet.started", message: "m", at: "t" },
      { type: "wave.started", message: "m", at: "t", data: { wave: "w" } },
      {
        type: "gates.evaluated",
        message: "m",
        at: "t",
        data: { verdict: "failed", results: [{ secret: 1 }] },
      },
      { type: "gates.evaluated", message: "m", at: "t", data: { verdict: "passed" } },
    ],
  };

  // Mutation: put the wall clock into the id -> a re-derived step (a conflict retry) makes new keys.
  it("gives the same ids whenever the step is derived, one per (event, subscription)", () => {
    const one = deriveDeliveries(config, input, new Date(0));
    const two = deriveDeliveries(config, input, new Date(1_000_000));
    expect(one.map((d) => d.id)).toEqual(["ro-1.r7.1.a", "ro-1.r7.2.a", "ro-1.r7.2.b"]);
    expect(two.map((d) => d.id)).toEqual(one.map((d) => d.id));
    expect(one[1]).toMatchObject({
      trigger: "gateFailed",
      eventId: "ro-1.r7.2",
      details: { verdict: "failed" },
    });
    // Only the few facts, never the gate results or the spec.
    expect(JSON.stringify(one[1]?.details)).not.toContain("results");
  });
});
