/**
 * The dashboard's Fleet page and release-record view in Debian's Chromium (playwright-core,
 * headless), over the API of the real engine, the real Azure SDK clients and the simulator's
 * inventory scenario (config/simulator/inventory.yaml: an unpinned model, a drifted scale set, a
 * version with an end-of-life date), with tokens on. The tests type, click and read the screen.
 * One test serves the page over the in-memory service instead, to seed a rollout whose *name*
 * holds markup (the API's spec schema refuses such a name, so only a seeded one can show it).
 * Skipped, with a message, only when /usr/bin/chromium is absent (`.ci/run` installs it).
 *
 * Set CANARYD_DASHBOARD_SCREENSHOTS=1 to (re)write docs/img/dashboard-fleet.png and
 * docs/img/dashboard-record.png.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import axe from "axe-core";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiStack, demoSubscriptionId, type Role, startApiStack } from "../integration/api/api-stack.ts";
import { projectRoot } from "../support/daemon-process.ts";
import { buildHarness, validSpec } from "../unit/api/api-harness.ts";

const chromiumPath = "/usr/bin/chromium";
const haveChromium = existsSync(chromiumPath);
if (!haveChromium)
  console.warn(`dashboard fleet tests skipped: ${chromiumPath} is absent (apt-get install -y chromium)`);

const screenshots = Boolean(process.env.CANARYD_DASHBOARD_SCREENSHOTS);
const payload = "<img src=x onerror=alert(1)>";
const arm = `/subscriptions/${demoSubscriptionId}/resourceGroups`;

let stack: ApiStack;
let browser: Browser;
let base: string;

beforeAll(async () => {
  if (!haveChromium) return;
  [stack, browser] = await Promise.all([
    startApiStack({
      scenario: "config/simulator/inventory.yaml",
      patch: (config) => ({
        ...config,
        inventory: {
          ...config.inventory,
          scopes: [{ subscriptionId: demoSubscriptionId }],
          cacheSeconds: 3600,
        },
        // 2.0.0 retires 2027-06-30: within ten years, so the inventory warns about it.
        policy: { ...config.policy, eolWarningDays: 3650 },
      }),
    }),
    chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
    }),
  ]);
  const address = stack.app.server.address();
  if (!address || typeof address === "string") throw new Error("the API is not listening on TCP");
  base = `http://127.0.0.1:${address.port}`;
  // The scenario's foreign model write on app-drift fires one simulated second in.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await stack.app.inject({
      url: `/v1/inventory?refresh=true`,
      headers: stack.auth("viewer"),
    });
    const drift = res.json().scaleSets?.find((s: { name: string }) => s.name === "app-drift");
    if (drift?.instances.notOnLatestModel > 0) break;
    if (Date.now() > deadline) throw new Error("the scenario's model write never fired");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const tokenOf = (role: Role) => stack.auth(role).authorization.slice("Bearer ".length);

interface Session {
  page: Page;
  dialogs: string[];
  errors: string[];
}

async function signIn(role: Role): Promise<Session> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const session: Session = { page, dialogs: [], errors: [] };
  page.on("dialog", (dialog) => {
    session.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on("pageerror", (error) => session.errors.push(error.message));
  await page.goto(base);
  await page.getByLabel("API token").fill(tokenOf(role));
  await page.getByRole("button", { name: "Use token" }).click();
  await page.getByText(`Signed in as ${role}-bot (${role})`).waitFor();
  return session;
}

async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(axe.source);
  const result = (await page.evaluate(
    'axe.run(document, { resultTypes: ["violations"] })',
  )) as axe.AxeResults;
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join("; ")})`);
}

async function shoot(page: Page, name: string) {
  if (screenshots) await page.screenshot({ path: join(projectRoot, "docs/img", name), fullPage: true });
}

describe.skipIf(!haveChromium)("the dashboard's Fleet page and release records in Chromium", () => {
  it("shows the fleet: the drifted instances, the unpinned model and end of life as text, and refreshes from Azure", async () => {
    const { page, errors } = await signIn("viewer");
    await page.getByRole("link", { name: "Fleet" }).click();
    await page.getByRole("heading", { name: "Fleet", exact: true }).waitFor();

    // Mutation: fleetView drops the drift cell (or reads notOnLatestModel from the wrong field).
    const drift = page.locator('tr[data-scale-set="app-drift"]');
    await drift.waitFor();
    await expect(drift.textContent()).resolves.toMatch(/drift: 4 instance\(s\) 0, 1, 2, 3/);
    await expect(drift.textContent()).resolves.toContain("2.0.0: 4");
    // Mutation: the model cell shows "pinned" whatever `model.pinned` says.
    await expect(page.locator('tr[data-scale-set="app-unpinned"]').textContent()).resolves.toContain(
      "unpinned",
    );
    // Severity in words beside the colour. Mutation: the severity cell shows only a coloured badge.
    const unpinned = page.locator('tr[data-finding="unpinnedModel"]');
    await expect(unpinned.textContent()).resolves.toMatch(/▲ warning.*unpinnedModel.*app-unpinned/);
    await expect(
      page.locator('tr[data-finding="instancesNotOnLatestModel"]').textContent(),
    ).resolves.toContain("app-drift");
    await expect(page.locator('tr[data-image="2.0.0"]').textContent()).resolves.toMatch(
      /2027-06-30.*in \d+ day\(s\)/,
    );
    expect(await seriousViolations(page)).toEqual([]);
    await shoot(page, "dashboard-fleet.png");

    // The first read came from the cache the setup filled; the button reads Azure again.
    // Mutation: the refresh button loads without ?refresh=true (the answer stays "(cached)").
    await page.getByRole("status").filter({ hasText: "scale set(s)" }).waitFor();
    await expect(page.locator("main").textContent()).resolves.toContain("(cached)");
    await page.getByRole("button", { name: "Refresh from Azure" }).click();
    await page.getByText("Reading Azure again…").waitFor({ state: "detached" });
    await expect(page.locator("main").textContent()).resolves.not.toContain("(cached)");
    await expect(page.locator('tr[data-scale-set="app-drift"]').textContent()).resolves.toContain("drift: 4");
    expect(errors).toEqual([]);
  }, 60_000);

  it("links a completed rollout to its release record, shown as text, downloadable without the token in a URL; buttons follow the phase", async () => {
    const spec = {
      name: "app-staging-record",
      image: {
        galleryImageVersionId: `${arm}/rg-images/providers/Microsoft.Compute/galleries/fleetGallery/images/app/versions/2.1.0`,
      },
      waves: [
        {
          name: "only",
          scaleSets: [`${arm}/rg-staging/providers/Microsoft.Compute/virtualMachineScaleSets/app-staging`],
        },
      ],
      strategy: { bakeSeconds: 0, batchPercent: 100 },
      owner: payload,
      labels: { note: payload },
    };
    const started = await stack.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: stack.auth("oncall"),
      payload: spec,
    });
    expect(started.statusCode, started.body).toBe(201);
    const done = await stack.waitTerminal(started.json().id);
    expect(done.phase).toBe("completed");

    const { page, dialogs, errors } = await signIn("oncall");
    await page.goto(`${base}/#/rollouts/${done.id}`);
    await page.locator('[data-phase="completed"]').waitFor();
    // Phase rules from the server: resume is refused on a completed rollout, with the machine's
    // reason, while roll back (valid on a completed rollout, and oncall's) stays enabled.
    // Mutation: actionBar ignores `view.actions` (resume enabled), or EngineService.get leaves
    // them out; or marks every action refused (roll back disabled).
    expect(await page.locator('[data-action="resume"]').isDisabled()).toBe(true);
    await page
      .locator('[data-why="resume"]')
      .getByText("Resume: cannot resume while the rollout is completed: resume continues a paused rollout")
      .waitFor();
    expect(await page.locator('[data-action="rollback"]').isDisabled()).toBe(false);
    expect(await page.locator('[data-action="pause"]').isDisabled()).toBe(true);

    // Mutation: the record link is missing, or recordPage shows the wrong rollout.
    await page.getByRole("link", { name: "Release record" }).click();
    await page.getByRole("heading", { name: "Release record of app-staging-record" }).waitFor();
    const facts = page.locator(`dl[data-record="${done.id}"]`);
    await expect(facts.textContent()).resolves.toContain(done.id);
    await expect(facts.locator("dd", { hasText: /^2\.1\.0$/ }).count()).resolves.toBe(1);
    // The Markdown, as text: the owner's markup shows as characters and makes no element.
    // Mutation: the <pre> is filled with innerHTML (an <img> appears, its onerror runs).
    const note = page.locator("pre.record");
    await expect(note.textContent()).resolves.toContain(done.id);
    await expect(note.textContent()).resolves.toContain(payload);
    expect(await page.locator("main img").count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);
    await shoot(page, "dashboard-record.png");

    // The download is a Blob of what the page read with the header: no token in any URL.
    // Mutation: the button links to the API path with the token in the query.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download Markdown" }).click(),
    ]);
    expect(download.url()).toMatch(/^blob:/);
    expect(download.suggestedFilename()).toBe(`release-record-${done.id}.md`);
    const saved = await download.path();
    expect(readFileSync(saved, "utf8")).toContain(done.id);
    expect(page.url()).not.toContain(tokenOf("oncall"));

    // The Fleet page links the scale set to its last rollout (read fresh, not from the cache).
    // Mutation: the last-rollout cell shows the phase without the link.
    await page.getByRole("link", { name: "Fleet" }).click();
    const staging = page.locator('tr[data-scale-set="app-staging"]');
    await expect(staging.textContent()).resolves.toContain("completed");
    await staging.getByRole("link", { name: done.id }).click();
    await page.getByRole("heading", { name: "Rollout app-staging-record" }).waitFor();
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
  }, 90_000);

  it("shows a scale set named with markup, and the findings naming it, as text on the Fleet page", async () => {
    // Azure names cannot hold '<' (so the simulator cannot serve one): a reader seeds it instead.
    const id =
      "/subscriptions/sub-1/resourceGroups/rg-x/providers/Microsoft.Compute/virtualMachineScaleSets/x";
    // Closed before the app: an open page keeps a connection the app's close would wait for.
    let context: BrowserContext | undefined;
    const h = await buildHarness({
      authDisabled: true,
      inventoryReader: {
        listScaleSets: async () =>
          [
            {
              id,
              name: payload,
              location: payload,
              upgradePolicyMode: "Manual",
              imageReference: {
                id: "/subscriptions/sub-1/resourceGroups/rg-x/providers/Microsoft.Compute/galleries/g/images/web",
              },
            },
          ] as never,
        listInstances: async () =>
          [
            {
              instanceId: "0",
              name: payload,
              protectedFromScaleSetActions: false,
              latestModelApplied: false,
              provisioningState: "Succeeded",
              imageReference: { exactVersion: "1.0.0" },
            },
          ] as never,
        readImageVersion: async (versionId) => ({
          id: versionId,
          exists: true,
          targetRegions: [],
          replication: {},
          replicationDetails: {},
          excludeFromLatest: false,
        }),
        armCalls: () => 2,
      },
    });
    try {
      const url = await h.app.listen({ host: "127.0.0.1", port: 0 });
      context = await browser.newContext();
      const page = await context.newPage();
      const dialogs: string[] = [];
      const errors: string[] = [];
      page.on("dialog", (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      page.on("pageerror", (error) => errors.push(error.message));
      // No configured scope: the page names one from its address (typed into the form).
      await page.goto(`${url}/#/fleet?subscriptionId=sub-1`);
      // Mutation: fleetView builds a row or a finding with innerHTML (an <img> appears).
      const row = page.locator("tr[data-scale-set]");
      await row.waitFor();
      await expect(row.locator("td").first().textContent()).resolves.toBe(payload);
      await expect(page.locator('tr[data-finding="unpinnedModel"]').textContent()).resolves.toContain(
        payload,
      );
      await expect(
        page.locator('tr[data-finding="instancesNotOnLatestModel"]').textContent(),
      ).resolves.toContain(payload);
      expect(await page.locator("main img").count()).toBe(0);
      expect(dialogs).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context?.close();
      await h.app.close();
    }
  }, 90_000);

  it("shows a rollout named with markup as text in its release record", async () => {
    // The API refuses such a name; the in-memory service takes it, as a stored record might hold it.
    let context: BrowserContext | undefined;
    const h = await buildHarness({ authDisabled: true });
    try {
      const view = await h.service.start(
        { ...validSpec(), name: payload, owner: payload, labels: {} } as never,
        {
          actor: { id: payload },
        },
      );
      h.service.setPhase(view.id, "completed");
      const url = await h.app.listen({ host: "127.0.0.1", port: 0 });
      context = await browser.newContext();
      const page = await context.newPage();
      const dialogs: string[] = [];
      const errors: string[] = [];
      page.on("dialog", (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`${url}/#/rollouts/${view.id}/record`);
      // Mutation: the heading or a fact is built with innerHTML.
      await page.getByRole("heading", { name: `Release record of ${payload}` }).waitFor();
      await expect(page.locator("pre.record").textContent()).resolves.toContain(payload);
      expect(await page.locator("main img").count()).toBe(0);
      expect(dialogs).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context?.close();
      await h.app.close();
    }
  }, 90_000);
});
