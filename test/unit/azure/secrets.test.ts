import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RestError } from "@azure/core-rest-pipeline";
import { describe, expect, it } from "vitest";
import { createAzureAccess } from "../../../src/azure/credentials.ts";
import { wrapAzureError } from "../../../src/azure/errors.ts";
import { redactSecrets, redactUrl } from "../../../src/logging/redact.ts";
import { defaultConfig } from "../../support/default-config.ts";

const azureConfig = {
  ...defaultConfig.azure,
  credential: "connectionFile" as const,
  connectionFile: null,
};

describe("secrets stay out of errors and logs", () => {
  it("cuts SAS query strings from URLs", () => {
    const sas =
      "https://acct.blob.core.windows.net/bootdiag/vm.serialconsole.log?sv=2024-01-01&sig=SECRET%3D&se=2026";
    expect(redactUrl(sas)).toBe("https://acct.blob.core.windows.net/bootdiag/vm.serialconsole.log");
    expect(redactSecrets(`GET ${sas} failed`)).toBe(
      "GET https://acct.blob.core.windows.net/bootdiag/vm.serialconsole.log?[redacted] failed",
    );
  });

  it("keeps Azure's error code but not the request's URL in a wrapped SDK error", () => {
    const error = new RestError("The blob https://a.blob/x?sig=SECRET is gone", {
      statusCode: 404,
      code: "BlobNotFound",
    });
    const wrapped = wrapAzureError("reading x", error);
    expect(wrapped.message).toBe("reading x: BlobNotFound: The blob https://a.blob/x?[redacted] is gone");
    expect(wrapped.transient).toBe(false);
    expect(wrapAzureError("reading x", new RestError("busy", { statusCode: 503 })).transient).toBe(true);
  });

  it("reads the simulator's connection file and never serialises its token", async () => {
    const dir = await mkdtemp(join(tmpdir(), "canaryd-access-"));
    const file = join(dir, "simulator.json");
    await writeFile(
      file,
      JSON.stringify({
        resourceManagerEndpoint: "https://127.0.0.1:9443",
        metricsEndpoint: "https://127.0.0.1:9443/metrics/{region}",
        logsEndpoint: "https://127.0.0.1:9443/bootdiagnostics",
        adminEndpoint: "https://127.0.0.1:9443/admin",
        caCertFile: "ca.pem",
        caCert: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        token: "sim-SECRET-TOKEN",
        subscriptionId: "5f2b8c1e-3a4d-4e6f-9b0a-1c2d3e4f5a6b",
      }),
    );
    const access = await createAzureAccess({ ...azureConfig, connectionFile: file });
    expect(access.resourceManagerEndpoint).toBe("https://127.0.0.1:9443");
    expect(access.metricsEndpointFor("WestEurope")).toBe("https://127.0.0.1:9443/metrics/westeurope");
    expect(access.subscriptionId).toBe("5f2b8c1e-3a4d-4e6f-9b0a-1c2d3e4f5a6b");
    expect(access.ca).toContain("BEGIN CERTIFICATE");
    // The token, bound to the audience of the scope asked for (the simulator checks it for metrics).
    expect((await access.credential.getToken("https://management.azure.com/.default"))?.token).toBe(
      `sim-SECRET-TOKEN.${Buffer.from("https://management.azure.com").toString("base64url")}`,
    );
    expect(JSON.stringify(access)).not.toContain("SECRET");
  });

  it("uses a static token for emulators and adds the configured CA bundle", async () => {
    const dir = await mkdtemp(join(tmpdir(), "canaryd-access-"));
    const bundle = join(dir, "extra-ca.pem");
    await writeFile(bundle, "-----BEGIN CERTIFICATE-----\nEXTRA\n-----END CERTIFICATE-----\n");
    const access = await createAzureAccess({
      ...azureConfig,
      credential: "staticToken",
      staticToken: "emulator-SECRET",
      resourceManagerEndpoint: "https://arm.example/",
      caBundleFile: bundle,
    });
    expect(access.resourceManagerEndpoint).toBe("https://arm.example");
    expect(access.metricsEndpointFor("northeurope")).toBe("https://northeurope.metrics.monitor.azure.com");
    expect(access.ca).toContain("EXTRA");
    expect((await access.credential.getToken("scope"))?.token).toBe("emulator-SECRET");
    await expect(createAzureAccess({ ...azureConfig, credential: "staticToken" })).rejects.toMatchObject({
      code: "AZURE_CONFIG_INVALID",
    });
  });

  it("refuses a CA bundle that holds no certificate", async () => {
    const dir = await mkdtemp(join(tmpdir(), "canaryd-access-"));
    const bundle = join(dir, "not-a-ca.pem");
    await writeFile(bundle, "hello");
    await expect(
      createAzureAccess({
        ...azureConfig,
        credential: "staticToken",
        staticToken: "t",
        caBundleFile: bundle,
      }),
    ).rejects.toMatchObject({ code: "AZURE_CA_UNREADABLE" });
  });

  it("refuses a connection file without a token, naming the field", async () => {
    const dir = await mkdtemp(join(tmpdir(), "canaryd-access-"));
    const file = join(dir, "simulator.json");
    await writeFile(
      file,
      JSON.stringify({ resourceManagerEndpoint: "https://x", metricsEndpoint: "https://x/{region}" }),
    );
    await expect(createAzureAccess({ ...azureConfig, connectionFile: file })).rejects.toMatchObject({
      code: "AZURE_CONNECTION_FILE_INVALID",
      message: expect.stringContaining("token"),
    });
  });
});
