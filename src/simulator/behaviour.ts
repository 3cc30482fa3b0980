/**
 * What an image version's behaviour looks like from outside: serial console text and metric
 * samples. Pure functions of their inputs (no state, no clock): a metric sample is a function of
 * the scenario seed, the instance, the metric, the minute and the version's age, so the metrics
 * endpoint can recompute any window at any time, also after a restart.
 */
import type { Behaviour, MetricLevel } from "./scenario.ts";
import type { SimMetricsModel, SimState } from "./state.ts";

const CLEAN_BOOT = [
  "[    0.000000] Linux version 6.8.0-1015-azure (buildd@lcy02-amd64-045) #17-Ubuntu SMP",
  "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz-6.8.0-1015-azure root=PARTUUID=2e3f console=tty1 console=ttyS0",
  "[    1.204511] EXT4-fs (sda1): mounted filesystem with ordered data mode.",
  "[    2.918402] systemd[1]: Detected virtualization microsoft.",
  "[  OK  ] Reached target Local File Systems.",
  "[  OK  ] Started OpenBSD Secure Shell server.",
  "[    9.412877] cloud-init[802]: Cloud-init v. 24.1 finished. Datasource DataSourceAzure.  Up 9.40 seconds",
  "[  OK  ] Reached target Multi-User System.",
  "Ubuntu 24.04 LTS {hostname} ttyS0",
  "{hostname} login:",
];

const FAILURES: Record<Exclude<Behaviour["boot"], "clean">, string[]> = {
  kernelPanic: [
    "[    0.000000] Linux version 6.8.0-1015-azure (buildd@lcy02-amd64-045) #17-Ubuntu SMP",
    '[    1.871203] VFS: Cannot open root device "PARTUUID=2e3f" or unknown-block(0,0): error -6',
    '[    1.871455] Please append a correct "root=" boot option; here are the available partitions:',
    "[    1.871902] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)",
    "[    1.872310] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.8.0-1015-azure #17-Ubuntu",
    "[    1.872999] ---[ end Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0) ]---",
  ],
  emergencyMode: [
    "[    0.000000] Linux version 6.8.0-1015-azure (buildd@lcy02-amd64-045) #17-Ubuntu SMP",
    "[ TIME ] Timed out waiting for device dev-disk-by\\x2duuid-7c1e.device.",
    "[DEPEND] Dependency failed for /data.",
    "[DEPEND] Dependency failed for Local File Systems.",
    'You are in emergency mode. After logging in, type "journalctl -xb" to view system logs.',
    "Give root password for maintenance",
  ],
  failedUnit: [
    "[    0.000000] Linux version 6.8.0-1015-azure (buildd@lcy02-amd64-045) #17-Ubuntu SMP",
    "[  OK  ] Reached target Local File Systems.",
    "[FAILED] Failed to start web.service - Web frontend.",
    "See 'systemctl status web.service' for details.",
    "[  OK  ] Reached target Multi-User System.",
    "{hostname} login:",
  ],
  cloudInitError: [
    "[    0.000000] Linux version 6.8.0-1015-azure (buildd@lcy02-amd64-045) #17-Ubuntu SMP",
    "[    8.104512] cloud-init[802]: 2026-01-01 00:00:08,104 - util.py[WARNING]: Failed running /var/lib/cloud/instance/scripts/part-001 [1]",
    "[    8.104999] cloud-init[802]: 2026-01-01 00:00:08,104 - cc_scripts_user.py[WARNING]: Failed to run module scripts_user",
    "[    8.105420] cloud-init[802]: Cloud-init v. 24.1 finished with errors. Datasource DataSourceAzure.",
    "{hostname} login:",
  ],
};

/** The serial console log an instance shows after booting with this behaviour (undefined: still booting). */
export function serialConsoleLog(behaviour: Behaviour | undefined, hostname: string): string {
  const lines =
    behaviour === undefined
      ? ["[    0.000000] Linux version 6.8.0-1015-azure"]
      : behaviour.boot === "clean"
        ? CLEAN_BOOT
        : FAILURES[behaviour.boot];
  return `${lines.map((line) => line.replaceAll("{hostname}", hostname)).join("\n")}\n`;
}

const METRIC_DEFAULTS: Record<string, { value: number; unit: string }> = {
  "percentage cpu": { value: 27, unit: "Percent" },
  "available memory bytes": { value: 4.2e9, unit: "Bytes" },
  "network in total": { value: 5.5e6, unit: "Bytes" },
  "network out total": { value: 7.1e6, unit: "Bytes" },
  "disk read operations/sec": { value: 12, unit: "CountPerSecond" },
  "disk write operations/sec": { value: 30, unit: "CountPerSecond" },
};

/** A metric Azure Monitor would know for a scale set: a platform default or one a scenario version defines. */
export function isKnownMetric(state: SimState, metricName: string): boolean {
  const name = metricName.toLowerCase();
  if (name in METRIC_DEFAULTS) return true;
  const behaviours = [
    ...state.galleryVersions.map((v) => v.behaviour),
    ...state.marketplaceImages.flatMap((m) => m.versions.map((v) => v.behaviour)),
  ];
  return behaviours.some((b) => Object.keys(b.metrics).some((m) => m.toLowerCase() === name));
}

export function metricUnit(metricName: string): string {
  return METRIC_DEFAULTS[metricName.toLowerCase()]?.unit ?? "Count";
}

// ---- Metric samples ----
// One sample per instance and minute: the version's level at the time since the instance took it,
// times the instance's own offset, plus heavy-tailed per-minute noise. Every random draw is a hash
// of (seed, instance, metric, minute), so re-reading a window gives the same numbers, one seed
// reproduces a run and another seed gives other noise.

/** murmur3's 32-bit finaliser: every input bit flips about half the output bits. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit FNV-1a of a string, finished with fmix32. */
function hashText(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return fmix32(h);
}

/** The `i`-th uniform draw in (0, 1) of stream `stream` (a hash). */
function uniform(stream: number, i: number): number {
  return (fmix32(stream ^ fmix32(Math.imul(i + 1, 0x9e3779b1))) + 0.5) / 4294967296;
}

/** A standard normal draw (Box-Muller) from uniform draws `i` and `i + 1`. */
function gaussian(stream: number, i: number): number {
  return Math.sqrt(-2 * Math.log(uniform(stream, i))) * Math.cos(2 * Math.PI * uniform(stream, i + 1));
}

/** Student-t with 3 degrees of freedom (variance 3): a normal with tails that now and then spike. */
function studentT3(stream: number): number {
  const chi2 = gaussian(stream, 2) ** 2 + gaussian(stream, 4) ** 2 + gaussian(stream, 6) ** 2;
  const t = gaussian(stream, 0) / Math.sqrt(chi2 / 3);
  return Math.max(-10, Math.min(10, t));
}

/** The draws of one instance and metric: its offset, and per minute its noise and whether it is lost. */
export interface NoiseSource {
  /** The instance's own relative offset from the level. */
  offset: number;
  /** A Student-t (3 degrees of freedom) draw for the minute starting at `minuteMs`, capped at ±10. */
  t(minuteMs: number): number;
  /** Whether Monitor lost this minute. */
  missing(minuteMs: number): boolean;
}

export function noiseSource(model: SimMetricsModel, instanceKey: string, metricName: string): NoiseSource {
  const root = hashText(`${model.seed}|${instanceKey}|${metricName.toLowerCase()}`);
  const minuteStream = (minuteMs: number, purpose: number) =>
    fmix32(root ^ fmix32(Math.imul(Math.floor(minuteMs / 60_000), 0x27d4eb2f) + purpose));
  return {
    offset: model.instanceSpread * Math.max(-3, Math.min(3, gaussian(fmix32(root ^ 0x6f666673), 0))),
    t: (minuteMs) => studentT3(minuteStream(minuteMs, 1)),
    missing: (minuteMs) =>
      model.missingMinuteRate > 0 && uniform(minuteStream(minuteMs, 2), 0) < model.missingMinuteRate,
  };
}

/** The fleet's base level of a metric: the scenario's `metrics.baseline`, else the platform default. */
export function baseLevel(model: SimMetricsModel, metricName: string): number {
  const name = metricName.toLowerCase();
  const configured = Object.entries(model.baseline).find(([key]) => key.toLowerCase() === name);
  return configured?.[1] ?? METRIC_DEFAULTS[name]?.value ?? 0;
}

function resolveLevel(level: MetricLevel, base: number): number {
  return typeof level === "number" ? level : base * (1 + Number.parseFloat(level) / 100);
}

/** The level (no noise) of a metric on an instance that took `behaviour` `ageSeconds` ago. */
export function metricLevel(
  behaviour: Behaviour,
  metricName: string,
  base: number,
  ageSeconds: number,
): number {
  const spec = Object.entries(behaviour.metrics).find(
    ([name]) => name.toLowerCase() === metricName.toLowerCase(),
  )?.[1];
  if (spec === undefined) return base;
  if (typeof spec !== "object") return resolveLevel(spec, base);
  const initial = resolveLevel(spec.initial ?? base, base);
  const level = resolveLevel(spec.level, base);
  const since = ageSeconds - spec.afterSeconds;
  if (since < 0) return initial;
  if (since >= spec.rampSeconds) return level;
  return initial + ((level - initial) * since) / spec.rampSeconds;
}

export interface SampleInput {
  behaviour: Behaviour;
  metricName: string;
  model: SimMetricsModel;
  /** The instance's draws for this metric (noiseSource). */
  noise: NoiseSource;
  /** Start of the minute. */
  minuteMs: number;
  /** Simulated seconds since the instance took the version it runs in this minute. */
  ageSeconds: number;
}

/** One instance's sample for one minute, or undefined when Monitor lost that minute. */
export function metricSample(input: SampleInput): number | undefined {
  const { behaviour, metricName, model, noise } = input;
  if (noise.missing(input.minuteMs)) return undefined;
  const level = metricLevel(behaviour, metricName, baseLevel(model, metricName), input.ageSeconds);
  // t3 has standard deviation sqrt(3): noise/3 gives the standard deviation of a uniform ±noise.
  const jitter = (behaviour.noise / 3) * noise.t(input.minuteMs);
  const value = level * (1 + noise.offset + jitter);
  const bounded =
    metricUnit(metricName) === "Percent" ? Math.min(100, Math.max(0, value)) : Math.max(0, value);
  return Math.round(bounded * 100) / 100;
}
