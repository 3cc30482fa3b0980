/**
 * The dashboard and change windows, in Debian's Chromium (playwright-core, headless) over the API of
 * the real engine, the real Azure SDK clients and the simulator (demo scenario, 60x), auth off.
 * A deny window holds wave 2: the rollout shows in "Needs attention" as waiting for a change
 * window, and its page's "Skip window" button (reason required) starts the wave through
 * POST /v1/rollouts/{id}/skip-window, recorded with the reason. Skipped only when
 * /usr/bin/chromium is absent (`.ci/run` installs it).
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeStacks, phaseIs, post, scaleSet, stack, version } from "../support/api-stack.ts";

const chromiumPath = "/usr/bin/chromium";
const haveChromium = existsSync(chromiumPath);
if (!haveChromium) console.warn(`dashboard window test skipped: ${chromiumPath} is absent`);

let browser: Browser;
beforeAll(async () => {
  if (!haveChromium) return;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await closeStacks();
});

/** A deny window on web-b that started a second ago and lasts a day of compressed time. */
function denyWebB() {
  const d = new Date(Date.now() - 1000);
  return {
    name: "wave-2-freeze",
    kind: "deny" as const,
    schedule: `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} ${d.getUTCDate()} ${d.getUTCMonth() + 1} *`,
    durationSeconds: 86_400,
    timeZone: "UTC",
    match: { labels: {}, scaleSets: [scaleSet("web-b")] },
  };
}

describe.skipIf(!haveChromium)("dashboard: a rollout held by a change window", { timeout: 180_000 }, () => {
  it("shows it as needing attention with when the window opens, and Skip window starts the wave", async () => {
    const s = await stack({ timeScale: 60, windows: [denyWebB()] });
    await s.app.listen({ port: 0, host: "127.0.0.1" });
    const address = s.app.server.address();
    if (!address || typeof address === "string") throw new Error("the API is not listening on TCP");
    const base = `http://127.0.0.1:${address.port}`;
    const { id } = (
      await post(s, "/v1/rollouts", {
        name: "web-window",
        image: { galleryImageVersionId: version("1.1.0") },
        waves: [
          { name: "wave-1", scaleSets: [scaleSet("web-a")] },
          { name: "wave-2", scaleSets: [scaleSet("web-b")] },
        ],
        strategy: { canary: { instances: 1 }, batchPercent: 100, bakeSeconds: 60 },
        gates: [{ kind: "instanceHealth" }],
      })
    ).json();
    expect((await phaseIs(s, id, ["waitingForWindow", "completed", "failed"], 60_000)).phase).toBe(
      "waitingForWindow",
    );

    const page = await (await browser.newContext()).newPage();
    await page.goto(base);
    // Mutation: attentionReason without the waitingForWindow case -> the row is not in the section.
    const row = page.locator(`section.attention tr[data-rollout="${id}"]`);
    await row.waitFor();
    await expect(row.getByText(/waiting for a change window \(opens /).isVisible()).resolves.toBe(true);

    await page.goto(`${base}/#/rollouts/${encodeURIComponent(id)}`);
    // Mutation: no "skipWindow" label -> the button reads "skipWindow" -> not found.
    const skip = page.getByRole("button", { name: "Skip window", exact: true });
    await skip.waitFor();
    expect(await skip.isDisabled()).toBe(false);
    await skip.click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("textbox").fill("hotfix INC-42");
    await dialog.getByRole("button", { name: /Skip window/ }).click();
    // Mutation: the page posting /skipWindow instead of /skip-window -> 404 -> never completes.
    const done = await phaseIs(s, id, ["completed", "rolledBack", "failed"], 90_000);
    expect(done.phase).toBe("completed");
    expect(done.window).toMatchObject({ status: "skipped", skippedBy: { reason: "hotfix INC-42" } });
  });
});
