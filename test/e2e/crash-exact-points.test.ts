import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CrashLab, galleryVersionId, scaleSetId, startCrashLab } from "../support/crash-lab.ts";
import { crashInvariantViolations, readFleetRecord } from "../support/fleet-witness.ts";

let lab: CrashLab;
beforeEach(async () => {
  lab = await startCrashLab({ timeScale: 20, label: "crash" });
});
afterEach(async () => {
  await lab?.close();
});

function spec(version: string) {
  return {
    name: `web-${version}`,
    image: { galleryImageVersionId: galleryVersionId(version) },
    waves: [
      { name: "first", scaleSets: [scaleSetId("web-a")] },
      { name: "rest", scaleSets: [scaleSetId("web-b")] },
    ],
    strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 20 },
    gates: [{ kind: "instanceHealth" }, { kind: "bootDiagnostics" }],
  };
}

describe("x", () => {
  it("after a model update", async () => {
    const t0 = Date.now();
    const { daemon, url } = await lab.startDaemon();
    console.log("daemon up", Date.now() - t0);
    const hold = lab.sim.addFault({ kind: "hold", operation: "virtualMachineScaleSets.updateInstances", count: 1 });
    const view = await lab.startRollout(url, spec("1.1.0"));
    await lab.sim.waitForHeld("virtualMachineScaleSets.updateInstances");
    console.log("held", Date.now() - t0);
    await daemon.stop("SIGKILL");
    lab.sim.release(hold.id);
    const second = await lab.startDaemon();
    console.log("restarted", Date.now() - t0);
    const done = await lab.waitForTerminal(second.url, view.id, 120_000);
    console.log("done", Date.now() - t0, done.phase);
    const accepted = (name: string) => lab.sim.requestLog({ operation: "virtualMachineScaleSets.updateInstances" }).filter((e) => e.status < 300 && e.path.includes(`/${name}/`)).length;
    const fleet = await readFleetRecord(lab.stateFile, accepted, ["web-a", "web-b"]);
    console.log(JSON.stringify(fleet, null, 1));
    expect(crashInvariantViolations(done, fleet, { phase: "completed", target: "1.1.0", previous: "1.0.0" })).toEqual([]);
  }, 180_000);
});
