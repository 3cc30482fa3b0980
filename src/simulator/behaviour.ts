/** What an image version's behaviour looks like from outside: serial console text and metric samples. */
import type { Behaviour } from "./scenario.ts";
import type { SimState } from "./state.ts";

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

/** Deterministic noise in [-1, 1] from a string seed, so a re-read window shows the same numbers. */
function noise(seed: string): number {
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return ((h >>> 0) / 0xffffffff) * 2 - 1;
}

/** One metric sample of an instance running `behaviour` at `timestampMs`. */
export function metricSample(
  behaviour: Behaviour,
  metricName: string,
  seed: string,
  timestampMs: number,
): number {
  const configured = Object.entries(behaviour.metrics).find(
    ([name]) => name.toLowerCase() === metricName.toLowerCase(),
  );
  const mean = configured?.[1] ?? METRIC_DEFAULTS[metricName.toLowerCase()]?.value ?? 0;
  const value = mean * (1 + behaviour.noise * noise(`${seed}|${metricName}|${timestampMs}`));
  const bounded =
    metricUnit(metricName) === "Percent" ? Math.min(100, Math.max(0, value)) : Math.max(0, value);
  return Math.round(bounded * 100) / 100;
}
