/**
 * The simulator's Log Analytics tables, generated from each instance's version history like the
 * metrics: per minute an instance runs a version (on the caller's time axis, see routes/logs.ts),
 * a Heartbeat row (unless the version's `logs.heartbeat` is false) and Syslog rows: one routine
 * `info` row, plus `logs.syslogErrorsPerMinute` rows of severity `err` with `logs.errorMessage`
 * (and one two seconds after the instance booted the version: it fails from the start).
 * An instance that is down (upgrading, failed) writes nothing. `Computer` is the instance's
 * computer name (osProfile.computerName). Pure given the fleet: nothing is stored.
 */
import type { Fleet } from "./fleet.ts";
import type { InstanceState, ScaleSetState } from "./state.ts";
import { computerName } from "./wire.ts";

export type ColumnType = "string" | "datetime" | "long" | "int" | "real" | "bool" | "dynamic";
export interface LogTable {
  name: string;
  columns: { name: string; type: ColumnType }[];
  rows: unknown[][];
}

export const TABLE_COLUMNS: Record<"Syslog" | "Heartbeat", LogTable["columns"]> = {
  Syslog: [
    { name: "TimeGenerated", type: "datetime" },
    { name: "Computer", type: "string" },
    { name: "HostName", type: "string" },
    { name: "Facility", type: "string" },
    { name: "SeverityLevel", type: "string" },
    { name: "ProcessName", type: "string" },
    { name: "SyslogMessage", type: "string" },
    { name: "_ResourceId", type: "string" },
  ],
  Heartbeat: [
    { name: "TimeGenerated", type: "datetime" },
    { name: "Computer", type: "string" },
    { name: "Category", type: "string" },
    { name: "OSType", type: "string" },
    { name: "Version", type: "string" },
    { name: "ResourceId", type: "string" },
    { name: "_ResourceId", type: "string" },
  ],
};

const MINUTE = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

export interface TableWindow {
  /** The query's time range on the caller's axis (epoch ms): rows with start <= t < end. */
  startMs: number;
  endMs: number;
  toWall(ms: number): number;
  fromWall(ms: number): number;
}

/** The Syslog and Heartbeat rows of `scaleSets`' instances in the window. */
export function logTables(fleet: Fleet, scaleSets: ScaleSetState[], w: TableWindow): LogTable[] {
  const syslog: unknown[][] = [];
  const heartbeat: unknown[][] = [];
  const first = Math.floor(w.startMs / MINUTE) * MINUTE;
  for (const ss of scaleSets)
    for (const instance of ss.instances) {
      const computer = computerName(ss, instance);
      const resourceId = instanceResourceId(ss, instance);
      // A version that writes errors writes its first one two seconds after the instance boots it.
      for (const epoch of instance.epochs) {
        if (epoch.behaviourKey === null) continue;
        const logs = fleet.behaviourOf(epoch.behaviourKey)?.logs;
        const at = w.fromWall(epoch.fromWallMs) + 2000;
        if (logs && (logs.syslogErrorsPerMinute ?? 0) > 0 && at >= w.startMs && at < w.endMs)
          syslog.push([iso(at), computer, computer, "daemon", "err", "web", logs.errorMessage, resourceId]);
      }
      for (let minute = first; minute < w.endMs; minute += MINUTE) {
        const run = fleet.runningAt(instance, w.toWall(minute));
        if (!run || run.behaviourKey === null) continue;
        const behaviour = fleet.behaviourOf(run.behaviourKey);
        if (!behaviour) continue;
        const logs = behaviour.logs ?? { syslogErrorsPerMinute: 0, errorMessage: "", heartbeat: true };
        const inWindow = (at: number) => at >= w.startMs && at < w.endMs;
        if (logs.heartbeat !== false && inWindow(minute))
          heartbeat.push([
            iso(minute),
            computer,
            "Azure Monitor Agent",
            "Linux",
            "1.33.1",
            resourceId,
            resourceId,
          ]);
        const routine = minute + 5_000;
        if (inWindow(routine))
          syslog.push([
            iso(routine),
            computer,
            computer,
            "cron",
            "info",
            "CRON",
            "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
            resourceId,
          ]);
        const errors = logs.syslogErrorsPerMinute ?? 0;
        for (let index = 0; index < errors; index++) {
          const at = minute + Math.floor(((index + 1) * MINUTE) / (errors + 1));
          if (inWindow(at))
            syslog.push([iso(at), computer, computer, "daemon", "err", "web", logs.errorMessage, resourceId]);
        }
      }
    }
  const byTime = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
  return [
    { name: "Syslog", columns: TABLE_COLUMNS.Syslog, rows: syslog.sort(byTime) },
    { name: "Heartbeat", columns: TABLE_COLUMNS.Heartbeat, rows: heartbeat.sort(byTime) },
  ];
}

/** The instance's ARM id, lowercased as Log Analytics writes `_ResourceId`. */
export function instanceResourceId(ss: ScaleSetState, instance: InstanceState): string {
  return `${ss.id}/virtualMachines/${instance.instanceId}`.toLowerCase();
}
