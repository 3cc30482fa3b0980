/** The admin endpoint over HTTP, simulated time, Automatic upgrade policy, 5xx bursts and certificates. */
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCertificates } from "../../../src/simulator/certificates.ts";
import { adminRequest, type Harness, RG, startHarness } from "./support.ts";

const FAST = { updateIntervalInMs: 10 };

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ timeScale: 10 });
});
afterAll(async () => h.close());

function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return adminRequest(h.sim, method, path, body);
}

describe("admin endpoint", () => {
  it("adds, lists and removes faults; shows instance images and the request log", async () => {
    const added = await admin("POST", "/faults", {
      kind: "latency",
      operation: "virtualMachineScaleSets.get",
      latencyMs: 150,
      count: 1,
    });
    expect(added.status).toBe(201);
    const id = (added.json as { id: string }).id;
    expect(
      ((await admin("GET", "/faults")).json as { value: { id: string }[] }).value.map((f) => f.id),
    ).toContain(id);

    const started = Date.now();
    await h.compute.virtualMachineScaleSets.get(RG, "web-a");
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    const instances = (await admin("GET", "/instances")).json as {
      value: { name: string; instances: { version: string }[] }[];
    };
    expect(instances.value.find((s) => s.name === "web-a")?.instances.map((i) => i.version)).toEqual([
      "1.0.0",
      "1.0.0",
      "1.0.0",
      "1.0.0",
      "1.0.0",
    ]);

    const log = (await admin("GET", "/requests?operation=virtualMachineScaleSets.get")).json as {
      value: { status: number; path: string }[];
    };
    expect(log.value.at(-1)).toMatchObject({
      status: 200,
      path: expect.stringContaining("/virtualMachineScaleSets/web-a"),
    });

    const bad = await admin("POST", "/faults", { kind: "throttle" });
    expect(bad.status).toBe(400);
    expect((bad.json as { error: { code: string } }).error.code).toBe("InvalidParameter");
  });

  it("a hold is visible over HTTP while a request waits, and released over HTTP", async () => {
    const { json } = await admin("POST", "/faults", { kind: "hold", operation: "galleryImages.get" });
    const id = (json as { id: string }).id;
    const pending = h.compute.galleryImages.get(RG, "demoGallery", "web");
    await h.sim.waitForHeld("galleryImages.get");
    expect(((await admin("GET", "/held")).json as { value: { operation: string }[] }).value).toEqual([
      { faultId: id, operation: "galleryImages.get" },
    ]);
    expect((await admin("DELETE", `/faults/${id}`)).status).toBe(204);
    expect((await pending).name).toBe("web");
  });
});

describe("admin endpoint for other processes", () => {
  it("GET /admin/held?wait=true answers once a request is held, 408 when none comes in time", async () => {
    const none = await admin("GET", "/held?operation=galleryImages.listByGallery&wait=true&timeoutMs=50");
    expect(none.status).toBe(408);
    const { json } = await admin("POST", "/faults", {
      kind: "hold",
      operation: "galleryImages.listByGallery",
      count: 1,
    });
    const id = (json as { id: string }).id;
    const waiting = admin("GET", "/held?operation=galleryImages.listByGallery&wait=true&timeoutMs=5000");
    const listing = (async () => {
      const names = [];
      for await (const image of h.compute.galleryImages.listByGallery(RG, "demoGallery"))
        names.push(image.name);
      return names;
    })();
    const held = await waiting;
    expect(held.status).toBe(200);
    expect((held.json as { value: unknown[] }).value).toHaveLength(1);
    expect((await admin("POST", `/faults/${id}/release`)).json).toEqual({ released: 1 });
    expect(await listing).toEqual(["web"]);
  });

  it("GET /admin/operations lists LROs with their outcome", async () => {
    await h.compute.virtualMachineScaleSets.update(
      RG,
      "web-d",
      { virtualMachineProfile: { storageProfile: { imageReference: { id: h.versionId("1.1.0") } } } },
      FAST,
    );
    const ops = (await admin("GET", "/operations")).json as {
      value: { kind: string; scaleSetId: string; status: string }[];
    };
    expect(ops.value.at(-1)).toMatchObject({
      kind: "modelUpdate",
      scaleSetId: h.scaleSetId("web-d"),
      status: "Succeeded",
    });
  });
});

describe("simulated time", () => {
  // Its own simulator at time-scale 2: slow enough that "in progress" is reliably observable.
  let slow: Harness;
  beforeAll(async () => {
    slow = await startHarness({ timeScale: 2 });
  });
  afterAll(async () => slow.close());

  it("replication goes Replicating -> Completed per region as simulated time passes", async () => {
    const get = () =>
      slow.compute.galleryImageVersions.get(RG, "demoGallery", "web", "1.1.0", {
        expand: "ReplicationStatus",
      });
    const early = await get();
    expect(early.replicationStatus?.summary?.map((s) => s.state)).toEqual(["Replicating", "Replicating"]);
    expect(early.provisioningState).toBe("Creating");
    const deadline = Date.now() + 5000;
    let states: (string | undefined)[] = [];
    while (Date.now() < deadline) {
      states = (await get()).replicationStatus?.summary?.map((s) => s.state) ?? [];
      if (states.every((s) => s === "Completed")) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(states).toEqual(["Completed", "Completed"]);
  });

  it("an instance is Updating during its upgrade and reports wall-clock timestamps", async () => {
    await slow.compute.virtualMachineScaleSets.update(
      RG,
      "web-c",
      { virtualMachineProfile: { storageProfile: { imageReference: { id: slow.versionId("1.1.0") } } } },
      FAST,
    );
    const poller = slow.compute.virtualMachineScaleSets.updateInstances(
      RG,
      "web-c",
      { instanceIds: ["0"] },
      FAST,
    );
    await poller.submitted();
    const during = await slow.compute.virtualMachineScaleSetVMs.get(RG, "web-c", "0", {
      expand: "instanceView",
    });
    expect(during.provisioningState).toBe("Updating");
    expect(during.instanceView?.vmHealth?.status?.code).toBe("HealthState/initializing");
    await poller;
    const after = await slow.compute.virtualMachineScaleSetVMs.getInstanceView(RG, "web-c", "0");
    const booted = after.statuses?.[0]?.time?.getTime() ?? 0;
    expect(Math.abs(Date.now() - booted)).toBeLessThan(5000);
  });
});

describe("upgrade policies and 5xx", () => {
  it("a model change on an Automatic scale set upgrades every instance by itself", async () => {
    await h.compute.virtualMachineScaleSets.update(
      RG,
      "web-auto",
      { virtualMachineProfile: { storageProfile: { imageReference: { id: h.versionId("1.1.0") } } } },
      FAST,
    );
    const deadline = Date.now() + 5000;
    let versions: (string | undefined)[] = [];
    while (Date.now() < deadline) {
      versions = h.sim.instanceImages(h.scaleSetId("web-auto")).map((i) => i.version);
      if (versions.every((v) => v === "1.1.0")) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(versions).toEqual(["1.1.0", "1.1.0", "1.1.0", "1.1.0"]);
  });

  it("a 503 burst is retried by the SDK's retry policy", async () => {
    h.sim.addFault({
      kind: "serverError",
      operation: "virtualMachineScaleSets.getInstanceView",
      count: 1,
      status: 503,
    });
    const view = await h.compute.virtualMachineScaleSets.getInstanceView(RG, "web-b");
    expect(view.virtualMachine?.statusesSummary?.length).toBeGreaterThan(0);
    expect(
      h.sim
        .requestLog({ operation: "virtualMachineScaleSets.getInstanceView" })
        .map((e) => e.status)
        .slice(-2),
    ).toEqual([503, 200]);
  });
});

describe("URLs handed out", () => {
  it("follow the host name the client used (e.g. a compose service name), as Azure's do", async () => {
    const port = new URL(h.sim.connection.resourceManagerEndpoint).port;
    const path = `/subscriptions/${h.sim.connection.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/web-b/virtualMachines/0/retrieveBootDiagnosticsData?api-version=2026-04-01`;
    const { status, headers, body } = await new Promise<{
      status: number;
      headers: Record<string, unknown>;
      body: string;
    }>((resolve, reject) => {
      request(
        `https://localhost:${port}${path}`,
        {
          method: "POST",
          ca: h.sim.connection.caCert,
          headers: { authorization: `Bearer ${h.sim.connection.token}` },
        },
        (res) => {
          let text = "";
          res.on("data", (c) => {
            text += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        },
      )
        .on("error", reject)
        .end();
    });
    expect(status).toBe(200);
    expect(headers["x-ms-request-id"]).toBeTruthy();
    expect(JSON.parse(body).serialConsoleLogBlobUri).toMatch(
      new RegExp(`^https://localhost:${port}/bootdiagnostics/`),
    );
  });
});

describe("certificates", () => {
  it("name loopback and the configured host; a new host keeps the CA and reissues the server certificate", async () => {
    const dir = await mkdtemp(join(tmpdir(), "canaryd-sim-certs-"));
    try {
      const first = await ensureCertificates(dir, "127.0.0.1");
      const names = new X509Certificate(first.cert).subjectAltName ?? "";
      expect(names).toContain("IP Address:127.0.0.1");
      expect(names).toContain("DNS:localhost");
      const again = await ensureCertificates(dir, "127.0.0.1");
      expect(again.cert).toBe(first.cert);
      const renamed = await ensureCertificates(dir, "simulator");
      expect(renamed.caCert).toBe(first.caCert);
      expect(new X509Certificate(renamed.cert).subjectAltName).toContain("DNS:simulator");
      expect(new X509Certificate(renamed.cert).verify(new X509Certificate(first.caCert).publicKey)).toBe(
        true,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
