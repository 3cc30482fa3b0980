/**
 * The canaryd dashboard: one ES module, no framework, no build step. It reads and acts through the
 * public /v1 API only, with the bearer token the user typed (kept in this tab's sessionStorage,
 * never in a URL, never logged). Live progress comes from the rollout's SSE timeline, read with
 * fetch so the token travels in the Authorization header (EventSource cannot send one).
 *
 * Invariant: every value that comes from the API (names, reasons, owners, labels, evidence) reaches
 * the page as text: elements are built with createElement and text nodes, never parsed as markup.
 * Pages: #/ (rollouts, needs attention first), #/rollouts/<id> (one rollout), #/rollouts/<id>/record
 * (its release record), #/fleet (the inventory), #/start.
 * The page keeps no state of its own beyond the token: when the stream drops or the daemon
 * restarts it reconnects after 2 s and resumes after the last entry it showed (Last-Event-ID),
 * and every change it shows is re-read from GET /v1/rollouts/{id}.
 */
import { createParser } from "./vendor/eventsource-parser.js";

const tokenKey = "canaryd.token";
const main = /** @type {HTMLElement} */ (document.getElementById("main"));
/** The list re-reads its newest page this often, and every rollout (all pages) this often. */
const listRefreshMs = 4000;
const listFullRefreshMs = 60_000;
const listCap = 2000;

/** @type {{ id: string, role: string, actions: Record<string, { minRole: string, allowed: boolean }> } | null} */
let me = null;
let pageAbort = new AbortController();

// ---------------------------------------------------------------------------------------------
// Building elements: text only.

/**
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs] attributes; `on<event>` adds a listener
 * @param {...unknown} children strings become text nodes
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** @param {Element} el @param {unknown[]} children */
function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces an element's children (arrays are flattened; strings become text). */
function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

// ---------------------------------------------------------------------------------------------
// The API.

class ApiError extends Error {
  /** @param {number} status @param {any} problem */
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code;
    this.errors = Array.isArray(problem?.errors) ? problem.errors : [];
  }
}

function authHeaders() {
  const token = sessionStorage.getItem(tokenKey);
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * @param {string} method
 * @param {string} path
 * @param {{ body?: unknown, contentType?: string, headers?: Record<string, string>, signal?: AbortSignal }} [options]
 */
async function api(method, path, options = {}) {
  const headers = { accept: "application/json", ...authHeaders(), ...options.headers };
  /** @type {RequestInit} */
  const init = { method, headers, cache: "no-store", signal: options.signal };
  if (options.body !== undefined) {
    headers["content-type"] = options.contentType ?? "application/json";
    init.body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = { detail: text.slice(0, 300) };
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** An error as text, with each invalid field on its own line. */
function errorBox(error) {
  const box = h("div", { role: "alert", class: "error" }, h("p", {}, errorText(error)));
  if (error instanceof ApiError && error.errors.length > 0)
    box.append(
      h(
        "ul",
        {},
        error.errors.map((e) => h("li", {}, `${e.path}: ${e.rule}`)),
      ),
    );
  return box;
}

function errorText(error) {
  if (error instanceof ApiError) return `${error.message}${error.code ? ` (${error.code})` : ""}`;
  return error instanceof Error ? error.message : String(error);
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });

// ---------------------------------------------------------------------------------------------
// Presenting a rollout.

const phaseTone = {
  completed: "ok",
  rolledBack: "warn",
  rejected: "bad",
  failed: "bad",
  paused: "warn",
  awaitingApproval: "warn",
  waitingForWindow: "warn",
  rollingBack: "bad",
};
const statusTone = { passed: "ok", failed: "bad", inconclusive: "warn", done: "ok", active: "info" };

function badge(text, tone) {
  return h("span", { class: `badge tone-${tone ?? "info"}` }, text);
}
const phaseBadge = (phase) => badge(phase, phaseTone[phase] ?? "info");
const statusBadge = (status) => badge(status, statusTone[status] ?? "none");

/** The version an image reference names: a gallery version's last segment, or a marketplace version. */
function versionOf(ref) {
  if (!ref) return undefined;
  if (ref.exactVersion) return ref.exactVersion;
  if (ref.version) return ref.version;
  const id = ref.id ?? ref.sharedGalleryImageId ?? ref.communityGalleryImageId;
  if (!id) return undefined;
  return /\/versions\/([^/]+)$/i.exec(id)?.[1] ?? id;
}

function versions(view) {
  const from = [...new Set((view.scaleSets ?? []).map((s) => versionOf(s.previousImage)).filter(Boolean))];
  const spec = view.spec?.image ?? {};
  const to =
    versionOf(view.targetImage) ??
    /\/versions\/([^/]+)$/i.exec(spec.galleryImageVersionId ?? "")?.[1] ??
    spec.urn?.split(":")[3] ??
    "?";
  return `${from.length > 0 ? from.join(", ") : "—"} → ${to}`;
}

function wavesDone(view) {
  const waves = view.waves ?? [];
  return `${waves.filter((w) => w.status === "done").length}/${waves.length}`;
}

function instances(view) {
  let upgraded = 0;
  let total = 0;
  for (const set of view.scaleSets ?? []) {
    upgraded += set.touchedInstanceIds?.length ?? 0;
    const all = new Set(set.protectedInstanceIds ?? []);
    for (const batch of set.batches ?? []) for (const id of batch.instanceIds ?? []) all.add(id);
    total += all.size;
  }
  return `${upgraded}/${total}`;
}

const shortId = (id) => String(id).split("/").pop();

function age(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

const terminal = new Set(["completed", "rolledBack", "rejected", "failed"]);

/** Why a rollout needs a human, or undefined. */
function attentionReason(view) {
  if (view.phase === "awaitingApproval") return "awaiting approval";
  if (view.phase === "paused") return "paused";
  if (view.phase === "waitingForWindow")
    return `waiting for a change window${view.window?.nextOpenAt ? ` (opens ${view.window.nextOpenAt})` : ""}`;
  if (view.phase === "failed") return "failed: its rollback did not converge (roll back again, or release)";
  if (terminal.has(view.phase)) return undefined;
  for (const set of view.scaleSets ?? [])
    for (const batch of set.batches ?? []) {
      const last = batch.gateResults?.at(-1);
      if (batch.status === "gating" && last?.verdict === "inconclusive")
        return `held on gate ${last.gate}: ${last.summary ?? "inconclusive"}`;
    }
  return undefined;
}

const rolloutLink = (view) => h("a", { href: `#/rollouts/${encodeURIComponent(view.id)}` }, view.name);

// ---------------------------------------------------------------------------------------------
// Page: rollouts.

/** Every rollout, newest first, up to `listCap` (pages of 100). */
async function loadAllRollouts(signal) {
  const items = [];
  let cursor;
  do {
    const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const page = await api("GET", `/v1/rollouts?limit=100${query}`, { signal });
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && items.length < listCap);
  return items;
}

/**
 * Merges the newest page into the list: rollouts it holds replace (or join) those known, the
 * rest stay as last read. Answers the new list, newest first (the API's order), and whether
 * anything a person sees changed (an id, a revision, a phase).
 */
function mergeNewest(items, newest) {
  const fresh = new Map(newest.map((v) => [v.id, v]));
  const kept = items.filter((v) => !fresh.has(v.id));
  // The newest page is the top of the list: every other rollout known is older, below it.
  const merged = [...newest, ...kept].slice(0, listCap);
  const known = new Map(items.map((v) => [v.id, v]));
  const changed =
    merged.length !== items.length ||
    newest.some((v) => known.get(v.id)?.revision !== v.revision || known.get(v.id)?.phase !== v.phase);
  return { merged, changed };
}

function rolloutTable(caption, rows, extra) {
  const head = ["Name", "Phase", "Version", "Waves", "Instances upgraded", "Owner", "Age"];
  if (extra) head.splice(2, 0, extra.title);
  return h(
    "table",
    {},
    h("caption", { class: "muted" }, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        head.map((t) => h("th", { scope: "col" }, t)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((view) => {
        const cells = [
          h("td", {}, rolloutLink(view)),
          h("td", {}, phaseBadge(view.phase)),
          h("td", {}, versions(view)),
          h("td", {}, wavesDone(view)),
          h("td", {}, instances(view)),
          h("td", {}, view.spec?.owner ?? view.createdBy ?? ""),
          h("td", {}, h("time", { datetime: view.createdAt, title: view.createdAt }, age(view.createdAt))),
        ];
        if (extra) cells.splice(2, 0, h("td", {}, extra.cell(view)));
        return h("tr", { "data-rollout": view.id }, cells);
      }),
    ),
  );
}

function matchesText(view, text) {
  if (!text) return true;
  const haystack = [
    view.id,
    view.name,
    view.phase,
    view.reason,
    view.spec?.owner,
    view.createdBy,
    versions(view),
    ...Object.entries(view.spec?.labels ?? {}).map(([k, v]) => `${k}=${v}`),
  ]
    .filter(Boolean)
    .join("\n")
    .toLowerCase();
  return haystack.includes(text.toLowerCase());
}

async function listPage(signal) {
  document.title = "Rollouts · canaryd";
  const attention = h("section", { class: "attention", "aria-labelledby": "attention-h" });
  const phaseSelect = h("select", { id: "filter-phase" }, h("option", { value: "" }, "all phases"));
  const textInput = h("input", {
    id: "filter-text",
    type: "search",
    placeholder: "name, owner, label, version",
  });
  const count = h("p", { class: "muted", role: "status" });
  const tableHolder = h("div");
  const status = h("p", { class: "muted live" });
  fill(
    main,
    h("h1", {}, "Rollouts"),
    attention,
    h("h2", { id: "all-h" }, "All rollouts"),
    h(
      "div",
      { class: "filters", role: "search", "aria-label": "Filter rollouts" },
      h("label", { for: "filter-phase" }, "Phase", phaseSelect),
      h("label", { for: "filter-text" }, "Text", textInput),
    ),
    count,
    tableHolder,
    status,
  );

  /** @type {any[]} */
  let items = [];
  const renderAll = () => {
    const phase = phaseSelect.value;
    const text = textInput.value.trim();
    const shown = items.filter((v) => (!phase || v.phase === phase) && matchesText(v, text));
    count.textContent = `${shown.length} of ${items.length} rollouts shown`;
    fill(tableHolder, rolloutTable("Newest first", shown));
  };
  const renderAttention = () => {
    const needing = items.filter((v) => attentionReason(v));
    fill(
      attention,
      h("h2", { id: "attention-h" }, `Needs attention (${needing.length})`),
      needing.length === 0
        ? h("p", {}, "Nothing is waiting for a human.")
        : rolloutTable("Awaiting approval, paused, held on a gate, or failed", needing, {
            title: "Why",
            cell: (v) => attentionReason(v),
          }),
    );
  };
  const renderPhases = () => {
    const present = [...new Set(items.map((v) => v.phase))].sort();
    const chosen = phaseSelect.value;
    fill(
      phaseSelect,
      h("option", { value: "" }, "all phases"),
      present.map((p) => h("option", { value: p, selected: p === chosen }, p)),
    );
  };
  phaseSelect.addEventListener("change", renderAll);
  textInput.addEventListener("input", renderAll);

  // Cheap refresh: one page (the newest 100) every listRefreshMs; every page only on the first
  // read, every listFullRefreshMs (an old rollout rolled back from the CLI shows within that),
  // and when the tab becomes visible again. Nothing is read while the tab is hidden, and the
  // tables are rebuilt only when a rollout appeared or changed revision or phase.
  let lastFull = 0;
  const render = () => {
    renderPhases();
    renderAttention();
    renderAll();
  };
  let wake = new AbortController();
  const onVisible = () => {
    if (!document.hidden) {
      lastFull = 0;
      wake.abort();
    }
  };
  document.addEventListener("visibilitychange", onVisible);
  signal.addEventListener("abort", () => document.removeEventListener("visibilitychange", onVisible));
  let first = true;
  while (!signal.aborted) {
    if (!document.hidden)
      try {
        const full = Date.now() - lastFull >= listFullRefreshMs;
        let changed;
        if (full) {
          const fresh = await loadAllRollouts(signal);
          changed =
            fresh.length !== items.length ||
            fresh.some((v, i) => v.id !== items[i].id || v.revision !== items[i].revision);
          items = fresh;
          lastFull = Date.now();
        } else {
          const newest = await api("GET", "/v1/rollouts?limit=100", { signal });
          const next = mergeNewest(items, newest.items);
          changed = next.changed;
          items = next.merged;
        }
        if (changed || first) render();
        first = false;
        status.textContent =
          `Updated ${new Date().toLocaleTimeString()}: the newest 100 every ${listRefreshMs / 1000} s, ` +
          `all every ${listFullRefreshMs / 1000} s.`;
      } catch (error) {
        if (signal.aborted) return;
        fill(status, errorBox(error));
      }
    await sleep(listRefreshMs, AbortSignal.any([signal, wake.signal]));
    if (wake.signal.aborted) wake = new AbortController();
  }
}

// ---------------------------------------------------------------------------------------------
// Page: one rollout.

const actionLabels = {
  approve: "Approve",
  pause: "Pause",
  resume: "Resume",
  abort: "Abort",
  rollback: "Roll back",
  release: "Release",
  skipWindow: "Skip window",
};
const actionHelp = {
  approve: "Let the rollout promote past its approval point.",
  pause: "Nothing new starts until resume; steps in flight finish.",
  resume: "Continue a paused rollout.",
  abort: "Stop the rollout and roll back what it changed.",
  rollback: "Put every touched scale set back on its recorded previous image.",
  release: "Hand back the scale sets a failed rollout still holds, as they are.",
  skipWindow: "Start the wave a closed change window holds now (recorded with your reason).",
};
/** The path segment of each action's route where it differs from the action's name. */
const actionPaths = { skipWindow: "skip-window" };
/** Actions whose confirmation asks for a reason before it can be sent. */
const reasonRequired = new Set(["abort", "rollback", "release", "skipWindow"]);

/** Renders an evidence value: strings with line breaks stay lines (serial logs), objects nest. */
function evidenceValue(value, depth = 0) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "—");
  if (typeof value === "string") return value.includes("\n") ? h("pre", {}, value) : value;
  if (typeof value !== "object") return String(value);
  if (depth > 4) return h("pre", {}, JSON.stringify(value, null, 2));
  if (Array.isArray(value)) {
    if (value.length === 0) return h("span", { class: "muted" }, "none");
    if (value.every((v) => typeof v !== "object" || v === null))
      return h("pre", {}, value.map((v) => String(v)).join("\n"));
    return h(
      "ol",
      {},
      value.map((v) => h("li", {}, evidenceValue(v, depth + 1))),
    );
  }
  return h(
    "dl",
    { class: "facts" },
    Object.entries(value).map(([k, v]) => [h("dt", {}, k), h("dd", {}, evidenceValue(v, depth + 1))]),
  );
}

// ---------------------------------------------------------------------------------------------
// Charts of metric and compare gates: each evaluation is one point in time (its measuredAt).

const svgNs = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs = {}, ...children) {
  const el = document.createElementNS(svgNs, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  append(el, children);
  return el;
}

const mean = (values) => values.reduce((sum, v) => sum + v, 0) / values.length;

/**
 * The series one scale set's metric or compare evaluations make, or undefined when it has none.
 * Metric: the canary instances' mean value against the min/max threshold. Compare: canary and
 * baseline medians, and the tolerance band around the baseline in the watched direction.
 */
function gateSeries(set, gate) {
  const results = (set.batches ?? [])
    .flatMap((b) => b.gateResults ?? [])
    .filter((r) => r.gate === gate && r.measuredAt && r.evidence)
    .sort((a, b) => Date.parse(a.measuredAt) - Date.parse(b.measuredAt));
  if (results.length === 0) return undefined;
  const at = (r) => Date.parse(r.measuredAt);
  const first = results[0].evidence;
  if (gate === "metric") {
    const canary = results
      .map((r) => ({
        t: at(r),
        v: (r.evidence.values ?? []).map((x) => x.value).filter((v) => typeof v === "number"),
      }))
      .filter((p) => p.v.length > 0)
      .map((p) => ({ t: p.t, v: mean(p.v) }));
    const lines = [];
    if (typeof first.threshold?.max === "number") lines.push({ name: "max", v: first.threshold.max });
    if (typeof first.threshold?.min === "number") lines.push({ name: "min", v: first.threshold.min });
    return {
      title: `${first.aggregation ?? ""} ${first.metric ?? "metric"}: canary (mean of instances) against the threshold`,
      series: [{ name: "canary", points: canary, dash: "", marker: "circle" }],
      lines,
    };
  }
  const medianOf = (r, side) => r.evidence[side]?.median;
  const points = (side) =>
    results
      .filter((r) => typeof medianOf(r, side) === "number")
      .map((r) => ({ t: at(r), v: medianOf(r, side) }));
  const baseline = points("baseline");
  const tolerance = (first.tolerancePercent ?? 0) / 100;
  const up = first.direction === "increase" || first.direction === "either";
  const down = first.direction === "decrease" || first.direction === "either";
  return {
    title: `${first.aggregation ?? ""} ${first.metric ?? "metric"}: canary and baseline medians, ${first.tolerancePercent ?? 0} % tolerance (${first.direction ?? "?"})`,
    series: [
      { name: "canary median", points: points("canary"), dash: "", marker: "circle" },
      { name: "baseline median", points: baseline, dash: "6 4", marker: "square" },
    ],
    lines: [],
    band: baseline.map((p) => ({
      t: p.t,
      lo: down ? p.v * (1 - tolerance) : p.v,
      hi: up ? p.v * (1 + tolerance) : p.v,
    })),
  };
}

function seriesChart(chart) {
  const width = 640;
  const height = 220;
  const pad = { left: 56, right: 16, top: 12, bottom: 28 };
  const ts = [
    ...chart.series.flatMap((x) => x.points.map((p) => p.t)),
    ...(chart.band ?? []).map((b) => b.t),
  ];
  const vs = [
    ...chart.series.flatMap((x) => x.points.map((p) => p.v)),
    ...chart.lines.map((l) => l.v),
    ...(chart.band ?? []).flatMap((b) => [b.lo, b.hi]),
  ];
  if (ts.length === 0 || vs.length === 0) return h("p", { class: "muted" }, `${chart.title}: no values yet.`);
  let [t0, t1] = [Math.min(...ts), Math.max(...ts)];
  if (t0 === t1) [t0, t1] = [t0 - 30_000, t1 + 30_000];
  let [v0, v1] = [Math.min(...vs), Math.max(...vs)];
  const margin = (v1 - v0) * 0.1 || Math.abs(v1) * 0.1 || 1;
  [v0, v1] = [v0 - margin, v1 + margin];
  const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - ((v - v0) / (v1 - v0)) * (height - pad.top - pad.bottom);
  const fmt = (v) => String(Math.round(v * 100) / 100);
  const svg = svgEl(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": chart.title },
    svgEl("title", {}, chart.title),
    svgEl("line", { x1: pad.left, y1: y(v0), x2: pad.left, y2: pad.top, class: "axis" }),
    svgEl("line", { x1: pad.left, y1: y(v0), x2: width - pad.right, y2: y(v0), class: "axis" }),
    svgEl("text", { x: pad.left - 6, y: y(v1) + 4, "text-anchor": "end" }, fmt(v1)),
    svgEl("text", { x: pad.left - 6, y: y(v0) + 4, "text-anchor": "end" }, fmt(v0)),
    svgEl("text", { x: pad.left, y: height - 8 }, new Date(t0).toLocaleTimeString()),
    svgEl(
      "text",
      { x: width - pad.right, y: height - 8, "text-anchor": "end" },
      new Date(t1).toLocaleTimeString(),
    ),
  );
  if (chart.band && chart.band.length > 0) {
    const band =
      chart.band.length === 1
        ? [
            { ...chart.band[0], t: t0 },
            { ...chart.band[0], t: t1 },
          ]
        : chart.band;
    const edge = [
      ...band.map((b) => `${x(b.t)},${y(b.hi)}`),
      ...[...band].reverse().map((b) => `${x(b.t)},${y(b.lo)}`),
    ];
    svg.append(
      svgEl("polygon", { points: edge.join(" "), class: "band" }, svgEl("title", {}, "tolerance band")),
    );
  }
  for (const line of chart.lines) {
    svg.append(
      svgEl("line", {
        x1: pad.left,
        x2: width - pad.right,
        y1: y(line.v),
        y2: y(line.v),
        class: "threshold",
      }),
      svgEl(
        "text",
        { x: width - pad.right, y: y(line.v) - 4, "text-anchor": "end" },
        `${line.name} ${fmt(line.v)}`,
      ),
    );
  }
  for (const series of chart.series) {
    if (series.points.length === 0) continue;
    svg.append(
      svgEl("polyline", {
        points: series.points.map((p) => `${x(p.t)},${y(p.v)}`).join(" "),
        class: "series",
        "stroke-dasharray": series.dash || "none",
      }),
    );
    for (const p of series.points)
      svg.append(
        series.marker === "circle"
          ? svgEl(
              "circle",
              { cx: x(p.t), cy: y(p.v), r: 4, class: "point" },
              svgEl("title", {}, `${series.name} ${fmt(p.v)}`),
            )
          : svgEl(
              "rect",
              { x: x(p.t) - 4, y: y(p.v) - 4, width: 8, height: 8, class: "point" },
              svgEl("title", {}, `${series.name} ${fmt(p.v)}`),
            ),
      );
  }
  const legend = [
    ...chart.series.map((x) => `${x.marker === "circle" ? "● solid" : "■ dashed"}: ${x.name}`),
    ...chart.lines.map((l) => `horizontal line: ${l.name} threshold`),
    ...(chart.band ? ["shaded: tolerance band around the baseline"] : []),
  ];
  return h(
    "figure",
    { class: "chart-figure" },
    svg,
    h("figcaption", {}, `${chart.title}. ${legend.join("; ")}.`),
  );
}

function gateCharts(set) {
  return ["metric", "compare"]
    .map((gate) => gateSeries(set, gate))
    .filter(Boolean)
    .map(seriesChart);
}

function gateDetails(result, key, openKeys) {
  const details = h(
    "details",
    { "data-gate": result.gate, "data-verdict": result.verdict, open: openKeys.has(key) },
    h(
      "summary",
      {},
      `Gate ${result.gate}: `,
      statusBadge(result.verdict),
      result.summary ? ` ${result.summary}` : "",
    ),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Measured at"),
      h("dd", {}, result.measuredAt ?? "—"),
      h("dt", {}, "Instances"),
      h("dd", {}, (result.instanceIds ?? []).join(", ") || "—"),
      result.platformFailure ? [h("dt", {}, "Platform failure"), h("dd", {}, "yes")] : [],
      h("dt", {}, "Evidence"),
      h("dd", {}, evidenceValue(result.evidence ?? {})),
    ),
  );
  details.addEventListener("toggle", () => {
    if (details.open) openKeys.add(key);
    else openKeys.delete(key);
  });
  return details;
}

function progressPicture(view, openKeys) {
  const sets = view.scaleSets ?? [];
  return (view.waves ?? []).map((wave) =>
    h(
      "section",
      { class: "wave", "aria-label": `Wave ${wave.name}` },
      h("h3", {}, `Wave ${wave.name} `, statusBadge(wave.status)),
      sets
        .filter((s) => s.wave === wave.name)
        .map((set) =>
          h(
            "div",
            { class: "scaleset", "data-scale-set": shortId(set.id) },
            h("h4", {}, shortId(set.id), " ", statusBadge(set.phase)),
            h(
              "p",
              { class: "muted" },
              `previous image ${versionOf(set.previousImage) ?? "not recorded yet"}; ` +
                `${set.touchedInstanceIds?.length ?? 0} instance(s) on the new model` +
                (set.protectedInstanceIds?.length
                  ? `; protected: ${set.protectedInstanceIds.join(", ")}`
                  : ""),
            ),
            (set.batches ?? []).length === 0
              ? h("p", { class: "muted" }, "No batches yet.")
              : h(
                  "ol",
                  { class: "batches", "aria-label": `Batches of ${shortId(set.id)}` },
                  set.batches.map((batch) =>
                    h(
                      "li",
                      { class: `batch status-${batch.status}` },
                      `Batch ${batch.index} · ${batch.kind} · ${batch.instanceIds?.length ?? 0} instance(s) · `,
                      statusBadge(batch.status),
                      (batch.gateResults ?? []).map((result, i) =>
                        gateDetails(result, `${set.id}|${batch.index}|${i}`, openKeys),
                      ),
                    ),
                  ),
                ),
            gateCharts(set),
          ),
        ),
    ),
  );
}

function timelineItem(entry) {
  return h(
    "li",
    { "data-seq": entry.seq, "data-type": entry.type },
    h("time", { datetime: entry.at }, new Date(entry.at).toLocaleTimeString()),
    ` · ${entry.actor} · ${entry.type} · ${entry.message}`,
  );
}

function confirmDialog(view, action, onDone) {
  const titleId = nextId("dialog-title");
  const reasonId = nextId("reason");
  const required = reasonRequired.has(action);
  const reason = h("textarea", { id: reasonId, rows: 3, maxlength: 1000, "aria-required": required });
  const error = h("div", { "aria-live": "assertive" });
  const confirm = h(
    "button",
    { type: "submit", class: action === "rollback" || action === "abort" ? "danger" : "primary" },
    `${actionLabels[action]} ${view.name}`,
  );
  const cancel = h("button", { type: "button" }, "Cancel");
  const form = h(
    "form",
    {},
    h("h2", { id: titleId }, `${actionLabels[action]} ${view.name}?`),
    h("p", {}, actionHelp[action]),
    h(
      "label",
      { for: reasonId },
      required ? "Reason (required, goes into the timeline)" : "Reason (optional, goes into the timeline)",
    ),
    reason,
    error,
    h("div", { class: "buttons" }, cancel, confirm),
  );
  const dialog = h("dialog", { "aria-labelledby": titleId }, form);
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = reason.value.trim();
    if (required && !text) {
      fill(error, h("p", { class: "error" }, "A reason is required."));
      reason.focus();
      return;
    }
    confirm.disabled = true;
    try {
      await api("POST", `/v1/rollouts/${encodeURIComponent(view.id)}/${actionPaths[action] ?? action}`, {
        body: text ? { reason: text } : {},
      });
      dialog.close();
      onDone();
    } catch (e) {
      fill(error, errorBox(e));
      confirm.disabled = false;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  reason.focus();
}

/**
 * Why an action is not available to this user on this rollout, or "" when it is. Two sources, both
 * the server's: the rollout's `actions` (what the machine accepts in its phase now, with the
 * reason) and whoami's `actions` (what the caller's role may use). The page encodes neither rule.
 */
function unavailableBecause(view, action) {
  const permission = me?.actions[action];
  const reasons = [];
  const phase = view.actions?.[action];
  if (phase && !phase.allowed) reasons.push(phase.reason ?? `not accepted while ${view.phase}`);
  if (permission && !permission.allowed)
    reasons.push(`Needs role ${permission.minRole}; you are ${me?.role}.`);
  return reasons.join(" ");
}

function actionBar(view, refresh) {
  const bar = h("div", { class: "actions", role: "group", "aria-label": "Actions" });
  // The server's list of actions when it sends one; the labels are the page's.
  // A compacted rollout accepts no action (each answers 410): no buttons.
  if (view.compacted) return bar;
  const names = view.actions ? Object.keys(view.actions) : Object.keys(actionLabels);
  for (const action of names) {
    if (!me?.actions[action]) continue;
    const noteId = nextId("why");
    const why = unavailableBecause(view, action);
    const button = h(
      "button",
      {
        type: "button",
        "data-action": action,
        disabled: Boolean(why),
        "aria-describedby": why ? noteId : undefined,
      },
      actionLabels[action] ?? action,
    );
    button.addEventListener("click", () => confirmDialog(view, action, refresh));
    bar.append(
      h(
        "div",
        { class: "action" },
        button,
        why
          ? h("small", { id: noteId, "data-why": action }, `${actionLabels[action] ?? action}: ${why}`)
          : "",
      ),
    );
  }
  return bar;
}

async function rolloutPage(id, signal) {
  document.title = "Rollout · canaryd";
  let view;
  try {
    view = await api("GET", `/v1/rollouts/${encodeURIComponent(id)}`, { signal });
  } catch (error) {
    if (signal.aborted) return;
    fill(main, h("h1", {}, "Rollout"), errorBox(error));
    return;
  }
  document.title = `${view.name} · canaryd`;
  const openKeys = new Set();
  const heading = h("h1");
  const phase = h("p", { role: "status" });
  const live = h("p", { class: "muted live", "aria-live": "polite" }, "Connecting to the live timeline…");
  const facts = h("dl", { class: "facts" });
  const actions = h("div");
  const progress = h("div");
  const findings = h("div");
  const deadLetters = h("div");
  const timeline = h("ol", { class: "timeline" });
  let lastSeq;

  const recordLink = h(
    "p",
    {},
    h("a", { href: `#/rollouts/${encodeURIComponent(id)}/record` }, "Release record"),
    " (what happened in this release, to attach to the change)",
  );
  fill(
    main,
    heading,
    phase,
    live,
    actions,
    recordLink,
    h("h2", {}, "Details"),
    facts,
    h("h2", {}, "Progress"),
    progress,
    h("h2", {}, "Preflight findings"),
    findings,
    deadLetters,
    h("h2", {}, "Timeline"),
    timeline,
  );

  let render = () => {
    fill(heading, `Rollout ${view.name}`);
    fill(phase, "Phase: ", h("span", { "data-phase": view.phase }, phaseBadge(view.phase)));
    if (view.reason) phase.append(" ", h("span", { "data-reason": "" }, view.reason));
    fill(
      facts,
      ...[
        ["Id", view.id],
        ["Version", versions(view)],
        ["Waves done", wavesDone(view)],
        ["Instances upgraded", instances(view)],
        ["Owner", view.spec?.owner ?? "—"],
        ["Change record", view.spec?.changeRecord ?? "—"],
        [
          "Labels",
          Object.entries(view.spec?.labels ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join(", ") || "—",
        ],
        ["Started by", view.createdBy],
        ["Created", view.createdAt],
        ["Updated", view.updatedAt],
      ].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]),
    );
    fill(
      actions,
      actionBar(view, () => void refresh()),
    );
    fill(progress, progressPicture(view, openKeys));
    fill(
      findings,
      (view.findings ?? []).length === 0
        ? h("p", { class: "muted" }, "None.")
        : h(
            "ul",
            {},
            view.findings.map((f) =>
              h(
                "li",
                {},
                `${f.code ?? "finding"}: ${f.message ?? ""}`,
                f.scaleSetId ? ` (${shortId(f.scaleSetId)})` : "",
              ),
            ),
          ),
    );
    fill(
      deadLetters,
      (view.deadLetters ?? []).length === 0
        ? ""
        : [
            h("h2", {}, "Steps given up on"),
            h(
              "ul",
              {},
              view.deadLetters.map((d) =>
                h("li", {}, `${d.kind} (${d.code}) after ${d.attempts} attempt(s): ${d.reason}`),
              ),
            ),
          ],
    );
  };

  const addEntries = (entries) => {
    for (const entry of entries) {
      if (lastSeq !== undefined && entry.seq <= lastSeq) continue;
      timeline.append(timelineItem(entry));
      lastSeq = entry.seq;
    }
  };

  let refreshing = false;
  let refreshAgain = false;
  const refresh = async () => {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    try {
      do {
        refreshAgain = false;
        const fresh = await api("GET", `/v1/rollouts/${encodeURIComponent(id)}`, { signal });
        view = fresh;
        render();
        addEntries(fresh.timeline ?? []);
      } while (refreshAgain && !signal.aborted);
    } catch (error) {
      if (!signal.aborted) fill(live, errorBox(error));
    } finally {
      refreshing = false;
    }
  };

  // Follows the timeline while the rollout is under way; an action on a terminal rollout (a
  // rollback of a completed one) makes it active again, and following starts again.
  let following = false;
  const followWhileActive = () => {
    if (following || signal.aborted || terminal.has(view.phase)) return;
    following = true;
    void follow(id, () => lastSeq, signal, {
      entry: (entry) => {
        addEntries([entry]);
        void refresh();
      },
      end: () => void refresh(),
      state: (text) => {
        live.textContent = text;
      },
    }).finally(() => {
      following = false;
      followWhileActive();
    });
  };
  const shown = render;
  render = () => {
    shown();
    followWhileActive();
  };

  render();
  addEntries(view.timeline ?? []);
  if (terminal.has(view.phase)) live.textContent = "The rollout has ended.";
  if (view.compacted)
    live.textContent = `The rollout has ended; its timeline was compacted at ${view.compactedAt} (its release record remains).`;
}

/**
 * Follows the rollout's SSE timeline until it ends or the page changes, resuming after the last
 * entry seen (Last-Event-ID) when the connection drops.
 */
async function follow(id, lastSeq, signal, on) {
  while (!signal.aborted) {
    let ended = false;
    try {
      const seq = lastSeq();
      const res = await fetch(`/v1/rollouts/${encodeURIComponent(id)}/events`, {
        headers: {
          accept: "text/event-stream",
          ...authHeaders(),
          ...(seq !== undefined ? { "last-event-id": String(seq) } : {}),
        },
        cache: "no-store",
        signal,
      });
      if (!res.ok || !res.body) throw new ApiError(res.status, await res.json().catch(() => undefined));
      on.state("Live: following the timeline.");
      const parser = createParser({
        onEvent(event) {
          if (event.event === "timeline") on.entry(JSON.parse(event.data));
          else if (event.event === "end") {
            ended = true;
            on.end();
          }
        },
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
      if (ended) {
        on.state("The rollout has ended.");
        return;
      }
      on.state("The live timeline closed; reconnecting…");
    } catch (error) {
      if (signal.aborted) return;
      on.state(`The live timeline is interrupted (${errorText(error)}); reconnecting…`);
    }
    await sleep(2000, signal);
  }
}

// ---------------------------------------------------------------------------------------------
// Page: a rollout's release record.

/** GET as text (the record's Markdown): the token in the header, errors as problems. */
async function apiText(path, accept, signal) {
  const res = await fetch(path, { headers: { accept, ...authHeaders() }, cache: "no-store", signal });
  const text = await res.text();
  if (!res.ok) {
    let problem;
    try {
      problem = JSON.parse(text);
    } catch {
      problem = { detail: text.slice(0, 300) };
    }
    throw new ApiError(res.status, problem);
  }
  return text;
}

/** A download of text the page already holds: a Blob, so no token ever goes into a URL. */
function downloadButton(label, filename, type, text) {
  return h(
    "button",
    {
      type: "button",
      "data-download": filename,
      onclick: () => {
        const href = URL.createObjectURL(new Blob([text], { type }));
        const a = h("a", { href, download: filename, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(href), 10_000);
      },
    },
    label,
  );
}

async function recordPage(id, signal) {
  document.title = "Release record · canaryd";
  const path = `/v1/rollouts/${encodeURIComponent(id)}/record`;
  const back = h("p", {}, h("a", { href: `#/rollouts/${encodeURIComponent(id)}` }, "Back to the rollout"));
  fill(main, h("h1", {}, "Release record"), back, h("p", { role: "status" }, "Loading the record…"));
  let record;
  let markdown;
  try {
    [record, markdown] = await Promise.all([
      api("GET", path, { signal }),
      apiText(path, "text/markdown", signal),
    ]);
  } catch (error) {
    if (signal.aborted) return;
    fill(main, h("h1", {}, "Release record"), back, errorBox(error));
    return;
  }
  if (signal.aborted) return;
  document.title = `Release record of ${record.name} · canaryd`;
  const image = record.image ?? {};
  const stem = `release-record-${record.rolloutId}`;
  fill(
    main,
    h("h1", {}, `Release record of ${record.name}`),
    back,
    h(
      "dl",
      { class: "facts", "data-record": record.rolloutId },
      [
        ["Rollout id", record.rolloutId],
        [
          "Outcome",
          h(
            "span",
            { "data-phase": record.outcome?.phase ?? record.phase },
            phaseBadge(record.outcome?.phase ?? record.phase),
          ),
        ],
        ["Why", record.outcome?.reason ?? "—"],
        ["Image version", image.version ?? versionOf(image.deployed ?? image.requested) ?? "—"],
        ["Image", image.deployed?.id ?? image.requested?.id ?? "—"],
        ["Published", image.publishedDate ?? "—"],
        ["End of life", image.endOfLifeDate ?? "—"],
        ["Started by", record.startedBy],
        ["Started", record.startedAt],
        ["Ended", record.endedAt ?? "not yet"],
        ["Owner", record.owner ?? "—"],
        ["Change record", record.changeRecord ?? "—"],
        ["Scale sets", (record.scaleSets ?? []).map((s) => shortId(s.id)).join(", ") || "—"],
        ["Actions by people", String((record.actions ?? []).length)],
      ].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]),
    ),
    h(
      "div",
      { class: "actions" },
      downloadButton("Download Markdown", `${stem}.md`, "text/markdown", markdown),
      downloadButton(
        "Download JSON",
        `${stem}.json`,
        "application/json",
        `${JSON.stringify(record, null, 2)}\n`,
      ),
    ),
    h("h2", { id: "record-md-h" }, "The record as a release note (Markdown, shown as text)"),
    h("pre", { class: "record", tabindex: "0", "aria-labelledby": "record-md-h" }, markdown),
  );
}

// ---------------------------------------------------------------------------------------------
// Page: the fleet (GET /v1/inventory).

const severityTone = { error: "bad", warning: "warn", info: "info" };
const severityMark = { error: "✖ error", warning: "▲ warning", info: "ℹ info" };

function rolloutRef(id) {
  return id ? h("a", { href: `#/rollouts/${encodeURIComponent(id)}` }, id) : "—";
}

/** The model's exact version, or what it names instead (an image definition, `latest`). */
function modelText(model) {
  if (model?.version) return model.version;
  const ref = model?.imageReference;
  if (ref?.id && !/\/versions\/[^/]+$/i.test(ref.id))
    return `image definition ${shortId(ref.id)}, no version`;
  return versionOf(ref) ?? "—";
}

function byVersionText(byVersion) {
  const entries = Object.entries(byVersion ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? "none" : entries.map(([v, n]) => `${v}: ${n}`).join(", ");
}

function retiresText(days) {
  if (typeof days !== "number") return "—";
  if (days < 0) return `retired ${-days} day(s) ago`;
  return `in ${days} day(s)`;
}

function dataTable(caption, head, rows) {
  return h(
    "table",
    {},
    h("caption", { class: "muted" }, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        head.map((t) => h("th", { scope: "col" }, t)),
      ),
    ),
    h("tbody", {}, rows),
  );
}

function fleetView(inventory) {
  const names = new Map((inventory.scaleSets ?? []).map((s) => [s.id.toLowerCase(), s.name]));
  const findings = inventory.findings ?? [];
  const scaleSets = inventory.scaleSets ?? [];
  const images = inventory.images ?? [];
  return [
    h(
      "p",
      { class: "muted" },
      `Read ${inventory.generatedAt} from ${inventory.source}; `,
      (inventory.scopes ?? [])
        .map(
          (s) =>
            `${s.subscriptionId}${s.resourceGroup ? `/${s.resourceGroup}` : ""} read ${s.readAt}` +
            `${s.cached ? " (cached)" : ""}, ${s.armCalls} Azure call(s)`,
        )
        .join("; "),
    ),
    h("h2", {}, `Findings (${findings.length})`),
    findings.length === 0
      ? h("p", {}, "No findings: every model pinned, no drift, nothing near its end of life.")
      : dataTable(
          "What to act on: severity, what, where",
          ["Severity", "Finding", "Scale set", "Detail"],
          findings.map((f) =>
            h(
              "tr",
              { "data-finding": f.code },
              h("td", {}, badge(severityMark[f.severity] ?? f.severity, severityTone[f.severity])),
              h("td", {}, f.code),
              h(
                "td",
                {},
                f.scaleSetId ? (names.get(f.scaleSetId.toLowerCase()) ?? shortId(f.scaleSetId)) : "—",
              ),
              h("td", {}, f.message ?? ""),
            ),
          ),
        ),
    h("h2", {}, `Scale sets (${scaleSets.length})`),
    dataTable(
      "Scale sets × versions: what the model names and what each instance runs",
      [
        "Scale set",
        "Location",
        "Model",
        "Instances",
        "By version",
        "Not on latest model",
        "Active rollout",
        "Last rollout",
      ],
      scaleSets.map((s) => {
        const drift = s.instances?.notOnLatestModel ?? 0;
        const ids = s.instances?.notOnLatestModelIds ?? [];
        return h(
          "tr",
          { "data-scale-set": s.name },
          h("td", { title: s.id }, s.name),
          h("td", {}, s.location ?? "—"),
          h(
            "td",
            {},
            `${modelText(s.model)} `,
            s.model?.pinned ? badge("pinned", "ok") : badge("unpinned", "warn"),
          ),
          h("td", {}, String(s.instances?.total ?? 0)),
          h("td", {}, byVersionText(s.instances?.byVersion)),
          h(
            "td",
            {},
            drift === 0 ? "none" : [badge(`drift: ${drift}`, "warn"), ` instance(s) ${ids.join(", ")}`],
          ),
          h("td", {}, rolloutRef(s.activeRollout)),
          h(
            "td",
            {},
            s.lastRollout
              ? [
                  rolloutRef(s.lastRollout.id),
                  " ",
                  phaseBadge(s.lastRollout.phase),
                  s.lastRollout.endedAt ? ` ${s.lastRollout.endedAt}` : "",
                ]
              : "—",
          ),
        );
      }),
    ),
    h("h2", {}, `Images in use (${images.length})`),
    dataTable(
      "Image versions in use, with approval and end of life",
      [
        "Version",
        "Scale sets",
        "Instances",
        "Published",
        "End of life",
        "Retires",
        "Approved",
        "Excluded from latest",
      ],
      images.map((i) =>
        h(
          "tr",
          { "data-image": i.version ?? i.imageVersionId },
          h("td", { title: i.imageVersionId }, i.version ?? shortId(i.imageVersionId)),
          h("td", {}, String(i.scaleSets ?? 0)),
          h("td", {}, String(i.instances ?? 0)),
          h("td", {}, i.publishedDate ?? "—"),
          h("td", {}, i.endOfLifeDate ?? "none"),
          h("td", {}, retiresText(i.retiresInDays)),
          h(
            "td",
            {},
            i.approved === undefined
              ? "no catalog yet"
              : i.approved
                ? badge("approved", "ok")
                : badge("not approved", "warn"),
          ),
          h("td", {}, i.excludeFromLatest ? "yes" : "no"),
        ),
      ),
    ),
  ];
}

async function fleetPage(query, signal) {
  document.title = "Fleet · canaryd";
  const subscription = h("input", {
    id: "fleet-subscription",
    type: "text",
    spellcheck: "false",
    value: query.get("subscriptionId") ?? "",
    placeholder: "the configured scopes",
  });
  const group = h("input", {
    id: "fleet-group",
    type: "text",
    spellcheck: "false",
    value: query.get("resourceGroup") ?? "",
  });
  const form = h(
    "form",
    { class: "filters", "aria-label": "Inventory scope" },
    h("label", { for: "fleet-subscription" }, "Subscription id", subscription),
    h("label", { for: "fleet-group" }, "Resource group (optional)", group),
    h("button", { type: "submit" }, "Show"),
  );
  const refresh = h("button", { type: "button", id: "fleet-refresh" }, "Refresh from Azure");
  const status = h("p", { role: "status", class: "muted" });
  const body = h("div");
  const load = async (fresh) => {
    refresh.disabled = true;
    status.textContent = fresh ? "Reading Azure again…" : "Reading the inventory…";
    const params = new URLSearchParams();
    for (const key of ["subscriptionId", "resourceGroup"]) {
      const value = query.get(key);
      if (value) params.set(key, value);
    }
    if (fresh) params.set("refresh", "true");
    try {
      const inventory = await api("GET", `/v1/inventory${params.size > 0 ? `?${params}` : ""}`, { signal });
      fill(body, fleetView(inventory));
      status.textContent =
        `${inventory.scaleSets?.length ?? 0} scale set(s), ${inventory.findings?.length ?? 0} finding(s); ` +
        `read ${inventory.generatedAt}.`;
    } catch (error) {
      if (signal.aborted) return;
      status.textContent = "";
      fill(body, errorBox(error));
    } finally {
      refresh.disabled = false;
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (subscription.value.trim()) next.set("subscriptionId", subscription.value.trim());
    if (group.value.trim()) next.set("resourceGroup", group.value.trim());
    const hash = `#/fleet${next.size > 0 ? `?${next}` : ""}`;
    if (location.hash === hash) void load(false);
    else location.hash = hash;
  });
  refresh.addEventListener("click", () => void load(true));
  fill(
    main,
    h("h1", {}, "Fleet"),
    h("p", {}, "Which image version runs where, and what to act on: unpinned models, drift, end of life."),
    form,
    h("div", { class: "actions" }, refresh),
    status,
    body,
  );
  await load(false);
}

// ---------------------------------------------------------------------------------------------
// Page: start a rollout.

function planView(plan) {
  return [
    h("h2", {}, "Plan"),
    h(
      "p",
      { role: "status", "data-would-start": String(plan.wouldStart) },
      plan.wouldStart
        ? "Preflight found nothing that stops this rollout."
        : "This rollout would be refused: see the findings.",
    ),
    h("h3", {}, "Findings"),
    (plan.findings ?? []).length === 0
      ? h("p", { class: "muted" }, "None.")
      : h(
          "ul",
          {},
          plan.findings.map((f) =>
            h(
              "li",
              {},
              `${f.code ?? "finding"}: ${f.message ?? ""}`,
              f.scaleSetId ? ` (${shortId(f.scaleSetId)})` : "",
            ),
          ),
        ),
    (plan.waves ?? []).map((wave) =>
      h(
        "section",
        { class: "wave", "aria-label": `Planned wave ${wave.name}` },
        h("h3", {}, `Wave ${wave.name}`),
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Scale set", "Previous image", "Batches (instances each)", "Instances", "Protected"].map((t) =>
                h("th", { scope: "col" }, t),
              ),
            ),
          ),
          h(
            "tbody",
            {},
            (wave.scaleSets ?? []).map((set) => {
              const batches = set.batches ?? [];
              const count = batches.reduce((n, b) => n + (b.instanceIds?.length ?? 0), 0);
              return h(
                "tr",
                {},
                h("td", {}, shortId(set.id)),
                h("td", {}, versionOf(set.previousImage) ?? "—"),
                h("td", {}, batches.map((b) => `${b.kind} ${b.instanceIds?.length ?? 0}`).join(", ") || "—"),
                h("td", {}, String(count)),
                h("td", {}, (set.protectedInstanceIds ?? []).join(", ") || "none"),
              );
            }),
          ),
        ),
      ),
    ),
  ];
}

function startPage() {
  document.title = "Start a rollout · canaryd";
  const permission = me?.actions.start;
  const allowed = Boolean(permission?.allowed);
  const why = allowed
    ? ""
    : `Planning and starting need role ${permission?.minRole ?? "deployer"}; you are ${me?.role}.`;
  const spec = h("textarea", { id: "spec", rows: 18, spellcheck: "false" });
  const file = h("input", {
    id: "spec-file",
    type: "file",
    accept: ".yaml,.yml,.json,application/json,application/yaml",
  });
  const planButton = h(
    "button",
    { type: "button", id: "plan", class: "primary", disabled: !allowed },
    "Plan (dry run)",
  );
  const startButton = h("button", { type: "button", id: "start", disabled: true }, "Start rollout");
  const output = h("div", { id: "plan-output" });
  let idempotencyKey;

  const body = () => {
    const text = spec.value;
    return { body: text, contentType: text.trim().startsWith("{") ? "application/json" : "application/yaml" };
  };
  spec.addEventListener("input", () => {
    startButton.disabled = true;
    idempotencyKey = undefined;
  });
  file.addEventListener("change", async () => {
    const chosen = file.files?.[0];
    if (!chosen) return;
    spec.value = await chosen.text();
    spec.dispatchEvent(new Event("input"));
  });
  planButton.addEventListener("click", async () => {
    planButton.disabled = true;
    fill(output, h("p", { role: "status" }, "Planning…"));
    try {
      const plan = await api("POST", "/v1/rollouts?dryRun=true", body());
      fill(output, planView(plan));
      startButton.disabled = !plan.wouldStart;
      idempotencyKey = crypto.randomUUID();
    } catch (error) {
      fill(output, errorBox(error));
    } finally {
      planButton.disabled = false;
    }
  });
  startButton.addEventListener("click", async () => {
    startButton.disabled = true;
    try {
      const view = await api("POST", "/v1/rollouts", {
        ...body(),
        headers: idempotencyKey ? { "idempotency-key": idempotencyKey } : {},
      });
      location.hash = `#/rollouts/${encodeURIComponent(view.id)}`;
    } catch (error) {
      output.append(errorBox(error));
      startButton.disabled = false;
    }
  });

  fill(
    main,
    h("h1", {}, "Start a rollout"),
    h(
      "p",
      {},
      "Paste a rollout spec (YAML or JSON) or load a file, look at the dry-run plan, then start it.",
    ),
    h("p", {}, h("label", { for: "spec" }, "Rollout spec"), h("br"), spec),
    h("p", {}, h("label", { for: "spec-file" }, "Or load a file "), file),
    h(
      "div",
      { class: "actions" },
      planButton,
      startButton,
      allowed ? "" : h("small", { id: "start-why" }, why),
    ),
    output,
  );
  if (!allowed) {
    planButton.setAttribute("aria-describedby", "start-why");
    startButton.setAttribute("aria-describedby", "start-why");
  }
}

// ---------------------------------------------------------------------------------------------
// Session and routing.

function signInPage(error) {
  document.title = "Sign in · canaryd";
  fill(
    main,
    h("h1", {}, "canaryd"),
    h(
      "p",
      {},
      "Enter an API token at the top of the page. It is kept in this tab only and sent as a bearer token.",
    ),
    error ? errorBox(error) : "",
  );
}

let sessionError;
async function loadSession() {
  try {
    me = await api("GET", "/v1/whoami");
    sessionError = undefined;
  } catch (error) {
    me = null;
    sessionError = error;
  }
  const form = /** @type {HTMLFormElement} */ (document.getElementById("token-form"));
  const who = /** @type {HTMLElement} */ (document.getElementById("who"));
  const forget = /** @type {HTMLButtonElement} */ (document.getElementById("forget"));
  const hasToken = Boolean(sessionStorage.getItem(tokenKey));
  form.hidden = Boolean(me) && (hasToken || me?.id === "anonymous");
  forget.hidden = !hasToken;
  who.textContent = me
    ? me.id === "anonymous" && !hasToken
      ? "Authentication is off: you act as anonymous (oncall)."
      : `Signed in as ${me.id} (${me.role})`
    : "";
}

/** The page a location hash names, and its argument. */
function parseHash(hash) {
  const record = /^#\/rollouts\/([^/?]+)\/record$/.exec(hash);
  if (record) return { page: "record", id: decodeURIComponent(record[1]) };
  if (hash.startsWith("#/rollouts/"))
    return { page: "detail", id: decodeURIComponent(hash.slice("#/rollouts/".length)) };
  if (hash === "#/start") return { page: "start" };
  if (hash === "#/fleet" || hash.startsWith("#/fleet?"))
    return { page: "fleet", query: new URLSearchParams(hash.slice("#/fleet".length + 1)) };
  return { page: "list" };
}

function route() {
  pageAbort.abort();
  pageAbort = new AbortController();
  for (const dialog of document.querySelectorAll("dialog")) dialog.remove();
  const target = parseHash(location.hash || "#/");
  const nav = target.page === "record" ? "detail" : target.page;
  for (const link of document.querySelectorAll("[data-nav]"))
    if (link.getAttribute("data-nav") === nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  if (!me) {
    signInPage(sessionError);
    return;
  }
  const signal = pageAbort.signal;
  if (target.page === "detail") void rolloutPage(target.id, signal);
  else if (target.page === "record") void recordPage(target.id, signal);
  else if (target.page === "fleet") void fleetPage(target.query, signal);
  else if (target.page === "start") startPage();
  else void listPage(signal);
}

document.getElementById("token-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ (document.getElementById("token"));
  sessionStorage.setItem(tokenKey, input.value.trim());
  input.value = "";
  await loadSession();
  route();
});
document.getElementById("forget")?.addEventListener("click", async () => {
  sessionStorage.removeItem(tokenKey);
  await loadSession();
  route();
});
window.addEventListener("hashchange", route);

await loadSession();
route();
