/**
 * `npm run bench:chart` (`node bench/chart.ts [--in file] [--out png] [--svg file]`): the chart of
 * figure (a′), accepted events (machine steps) per second against the number of scale sets, from
 * the step-cost probe's results (bench/step-cost.ts, default bench/results/step-cost-latest.json).
 * Two series: per daemon CPU second and per wall second, on a logarithmic scale-set axis, with
 * issue 14's target (300 per second) as a dashed line. An unfinished row (the probe's deadline
 * passed) is drawn hollow and labelled. The SVG is written by hand (no chart library is a
 * dependency) and rendered to PNG by Debian's Chromium through playwright-core (headless, no
 * network); default output docs/img/step-cost.png. `--svg file` writes the SVG instead, without a
 * browser. `--before file` adds a second run's per-CPU-second series (another tree, for
 * comparison), grey and dashed, labelled by `--before-label`. Exits non-zero when the input has no rows, or Chromium is absent and no --svg was given.
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

interface StepCostRow {
  scaleSets: number;
  instances: number;
  finished: boolean;
  stepsPerSecond: number;
  stepsPerCpuSecond: number;
  steps: number;
  wallMs: number;
}

interface StepCostResult {
  at: string;
  machine: { cpus: number; loadAverage1m: number[] };
  rows: StepCostRow[];
}

const { values: args } = parseArgs({
  options: {
    in: { type: "string", default: new URL("./results/step-cost-latest.json", import.meta.url).pathname },
    out: { type: "string", default: new URL("../docs/img/step-cost.png", import.meta.url).pathname },
    svg: { type: "string" },
    target: { type: "string", default: "300" },
    before: { type: "string" },
    "before-label": { type: "string", default: "before" },
  },
});

const chromiumPath = "/usr/bin/chromium";
const width = 900;
const height = 520;
const margin = { left: 80, right: 40, top: 96, bottom: 110 };
const colours = { cpu: "#1f6feb", wall: "#d9480f", target: "#6e7781", grid: "#d0d7de", text: "#1f2328" };

const escapeXml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A round step for about five y ticks. */
function tickStep(max: number): number {
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
}

function renderSvg(
  result: StepCostResult,
  target: number,
  before?: { result: StepCostResult; label: string },
): string {
  const rows = [...result.rows].sort((a, b) => a.scaleSets - b.scaleSets);
  const beforeRows = [...(before?.result.rows ?? [])].sort((a, b) => a.scaleSets - b.scaleSets);
  const sizes = [...rows, ...beforeRows].map((r) => r.scaleSets);
  const decades = {
    from: Math.floor(Math.log10(Math.min(...sizes))),
    to: Math.max(Math.ceil(Math.log10(Math.max(...sizes))), 3),
  };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  // Half a decade of room either side, so points at 10 and 1000 are not on the frame.
  const logMin = decades.from - 0.5;
  const logMax = decades.to + 0.5;
  const x = (n: number) => margin.left + ((Math.log10(n) - logMin) / (logMax - logMin)) * plotW;
  const yMax =
    Math.max(
      target,
      ...rows.flatMap((r) => [r.stepsPerCpuSecond, r.stepsPerSecond]),
      ...beforeRows.map((r) => r.stepsPerCpuSecond),
    ) * 1.12;
  const step = tickStep(yMax);
  const yTop = Math.ceil(yMax / step) * step;
  const y = (v: number) => margin.top + plotH - (v / yTop) * plotH;

  const parts: string[] = [];
  const text = (tx: number, ty: number, body: string, attrs = "") =>
    parts.push(`<text x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" ${attrs}>${escapeXml(body)}</text>`);

  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  text(
    margin.left,
    32,
    "Figure (a′): machine steps per second against fleet size",
    'font-size="20" font-weight="600"',
  );
  const load = result.machine.loadAverage1m.map((l) => l.toFixed(1)).join(" → ");
  text(
    margin.left,
    56,
    `One rollout of N scale sets × ${rows[0]?.instances ?? "?"} instances in 4 waves, zero Azure latency ` +
      "(bench/step-cost.ts).",
    'font-size="13" fill="#57606a"',
  );
  text(
    margin.left,
    74,
    `Run of ${result.at.slice(0, 16).replace("T", " ")} UTC, 1-minute load average ${load} on ${result.machine.cpus} shared cores.`,
    'font-size="13" fill="#57606a"',
  );

  // Grid and y axis.
  for (let v = 0; v <= yTop + 1e-9; v += step) {
    parts.push(
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="${colours.grid}" stroke-width="1"/>`,
    );
    text(margin.left - 10, y(v) + 4, String(Math.round(v * 100) / 100), 'font-size="13" text-anchor="end"');
  }
  // X axis: decades, with the minor ticks of a log scale.
  const axisY = margin.top + plotH;
  parts.push(
    `<line x1="${margin.left}" x2="${width - margin.right}" y1="${axisY}" y2="${axisY}" stroke="${colours.text}"/>`,
  );
  for (let d = decades.from; d <= decades.to; d++) {
    const n = 10 ** d;
    parts.push(
      `<line x1="${x(n).toFixed(1)}" x2="${x(n).toFixed(1)}" y1="${axisY}" y2="${axisY + 7}" stroke="${colours.text}"/>`,
    );
    text(x(n), axisY + 24, n.toLocaleString("en-US"), 'font-size="13" text-anchor="middle"');
    for (let m = 2; m < 10 && d < decades.to; m++) {
      const xm = x(m * n).toFixed(1);
      parts.push(`<line x1="${xm}" x2="${xm}" y1="${axisY}" y2="${axisY + 4}" stroke="${colours.text}"/>`);
    }
  }
  text(
    margin.left + plotW / 2,
    axisY + 50,
    "scale sets in the rollout (log scale)",
    'font-size="14" text-anchor="middle"',
  );
  text(
    22,
    margin.top + plotH / 2,
    "accepted events (steps) per second",
    `font-size="14" text-anchor="middle" transform="rotate(-90 22 ${(margin.top + plotH / 2).toFixed(1)})"`,
  );

  // Target.
  parts.push(
    `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(target).toFixed(1)}" y2="${y(target).toFixed(1)}" stroke="${colours.target}" stroke-width="2" stroke-dasharray="8 6"/>`,
  );
  text(
    width - margin.right - 6,
    y(target) - 8,
    `issue 14 target: ≥ ${target} steps per second`,
    `font-size="13" text-anchor="end" fill="${colours.target}"`,
  );

  // Sizes of the axis the probe did not measure.
  for (let d = decades.from; d <= decades.to; d++) {
    if (rows.some((r) => r.scaleSets === 10 ** d)) continue;
    text(
      x(10 ** d),
      axisY - 12,
      "not measured",
      `font-size="12" text-anchor="middle" fill="${colours.target}"`,
    );
  }

  // Series.
  const series = [
    {
      key: "stepsPerCpuSecond" as const,
      colour: colours.cpu,
      label: `${before ? "this run: " : ""}per daemon CPU second`,
    },
    {
      key: "stepsPerSecond" as const,
      colour: colours.wall,
      label: `${before ? "this run: " : ""}per wall second`,
    },
  ];
  for (const [i, s] of series.entries()) {
    const points = rows.map((r) => `${x(r.scaleSets).toFixed(1)},${y(r[s.key]).toFixed(1)}`).join(" ");
    parts.push(`<polyline points="${points}" fill="none" stroke="${s.colour}" stroke-width="2.5"/>`);
    for (const r of rows) {
      const cx = x(r.scaleSets).toFixed(1);
      const cy = y(r[s.key]).toFixed(1);
      const fill = r.finished ? s.colour : "#ffffff";
      parts.push(
        `<circle cx="${cx}" cy="${cy}" r="5.5" fill="${fill}" stroke="${s.colour}" stroke-width="2.5"/>`,
      );
      // Labels above for the upper series, below for the lower one, so they do not collide; a
      // lower label that would reach the axis goes right of its point instead.
      const upper = rows.every((o) => o[s.key] >= o[series[1 - i]?.key ?? s.key]);
      const label = `${Math.round(r[s.key])}${r.finished ? "" : " (unfinished)"}`;
      const style = `font-size="13" fill="${s.colour}" font-weight="600"`;
      if (upper) text(x(r.scaleSets), y(r[s.key]) - 12, label, `${style} text-anchor="middle"`);
      else if (y(r[s.key]) + 22 < axisY - 6)
        text(x(r.scaleSets), y(r[s.key]) + 22, label, `${style} text-anchor="middle"`);
      else text(x(r.scaleSets) + 12, y(r[s.key]) - 4, label, `${style} text-anchor="start"`);
    }
    // Legend, under the axis title.
    const lx = margin.left + i * 285;
    const ly = height - 26;
    parts.push(
      `<line x1="${lx}" x2="${lx + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.colour}" stroke-width="2.5"/>`,
    );
    parts.push(`<circle cx="${lx + 14}" cy="${ly - 4}" r="4.5" fill="${s.colour}"/>`);
    text(lx + 36, ly, s.label, 'font-size="13"');
  }
  if (before) {
    // The other run's per-CPU-second series: grey, dashed, labels right of its points.
    const grey = colours.target;
    const points = beforeRows
      .map((r) => `${x(r.scaleSets).toFixed(1)},${y(r.stepsPerCpuSecond).toFixed(1)}`)
      .join(" ");
    parts.push(
      `<polyline points="${points}" fill="none" stroke="${grey}" stroke-width="2" stroke-dasharray="5 4"/>`,
    );
    for (const r of beforeRows) {
      const cx = x(r.scaleSets);
      const cy = y(r.stepsPerCpuSecond);
      parts.push(
        `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="4.5" fill="${r.finished ? grey : "#ffffff"}" stroke="${grey}" stroke-width="2"/>`,
      );
      text(
        cx + 10,
        cy + 16,
        `${Math.round(r.stepsPerCpuSecond)}${r.finished ? "" : " (unfinished)"}`,
        `font-size="12" fill="${grey}" text-anchor="start"`,
      );
    }
    const lx = margin.left;
    const ly = height - 6;
    parts.push(
      `<line x1="${lx}" x2="${lx + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${grey}" stroke-width="2" stroke-dasharray="5 4"/>`,
    );
    text(lx + 36, ly, `${before.label}: per daemon CPU second`, 'font-size="13"');
  }
  text(
    margin.left + 560,
    height - 26,
    [...rows, ...beforeRows].some((r) => !r.finished) ? "hollow: unfinished at the deadline" : "",
    'font-size="13"',
  );

  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" fill="${colours.text}">\n${parts.join("\n")}\n</svg>\n`;
}

async function renderPng(svg: string, out: string): Promise<void> {
  if (!existsSync(chromiumPath))
    throw new Error(`${chromiumPath} is absent: write the SVG with --svg instead`);
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: 2 });
    await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`);
    await page.locator("svg").screenshot({ path: out, type: "png" });
  } finally {
    await browser.close();
  }
}

{
  const result = JSON.parse(await readFile(args.in ?? "", "utf8")) as StepCostResult;
  if (!result.rows?.length) throw new Error(`${args.in} has no rows`);
  const before = args.before
    ? {
        result: JSON.parse(await readFile(args.before, "utf8")) as StepCostResult,
        label: args["before-label"] ?? "before",
      }
    : undefined;
  const svg = renderSvg(result, Number(args.target), before);
  if (args.svg) {
    await writeFile(args.svg, svg);
    process.stderr.write(`chart: wrote ${args.svg}\n`);
  } else {
    await renderPng(svg, args.out ?? "");
    process.stderr.write(`chart: wrote ${args.out}\n`);
  }
}
