/** `canaryd inventory`: which image version runs where, as a table a person reads (or --json). */
import { type Command, Option } from "commander";
import { type InventorySource, inventorySources } from "../../domain/inventory.ts";
import type { InventoryAnswer } from "../../inventory/inventory-service.ts";
import { type CliIo, clientFrom, processIo } from "../client/cli-io.ts";
import { asClientCommand, type ClientOptions, runAction } from "../client/command-kit.ts";
import { CliError } from "../client/errors.ts";
import { exitCodes } from "../client/exit-codes.ts";

export function registerInventory(program: Command, io: CliIo = processIo()): void {
  asClientCommand(program.command("inventory"), io)
    .description("Show which image version runs on every scale set and instance, with findings")
    .option("--subscription <id>", "the subscription to read (default: the daemon's inventory.scopes)")
    .option("--resource-group <name>", "only this resource group of --subscription")
    .option("--refresh", "read Azure again instead of the daemon's cache")
    .addOption(
      new Option(
        "--source <source>",
        "read from Resource Manager or Resource Graph (default: inventory.source)",
      ).choices([...inventorySources]),
    )
    .action(
      runAction(
        io,
        async (
          options: ClientOptions & {
            subscription?: string;
            resourceGroup?: string;
            refresh?: boolean;
            source?: InventorySource;
          },
        ) => {
          if (options.resourceGroup && !options.subscription)
            throw new CliError("--resource-group needs --subscription", exitCodes.usage);
          const answer = await clientFrom(io, options.url).inventory({
            ...(options.subscription ? { subscriptionId: options.subscription } : {}),
            ...(options.resourceGroup ? { resourceGroup: options.resourceGroup } : {}),
            ...(options.refresh ? { refresh: true } : {}),
            ...(options.source ? { source: options.source } : {}),
          });
          io.out(options.json ? JSON.stringify(answer, null, 2) : formatInventory(answer));
          return exitCodes.completed;
        },
      ),
    );
}

export function formatInventory(answer: InventoryAnswer): string {
  const scaleSets = table(
    ["SCALE SET", "LOCATION", "POLICY", "MODEL", "INSTANCES", "BY VERSION", "NOT ON MODEL", "ROLLOUT"],
    answer.scaleSets.map((ss) => [
      ss.name,
      ss.location,
      ss.upgradePolicy,
      ss.model.pinned ? (ss.model.version ?? "?") : "UNPINNED",
      String(ss.instances.total),
      Object.entries(ss.instances.byVersion)
        .map(([version, count]) => `${version}×${count}`)
        .join(" "),
      String(ss.instances.notOnLatestModel),
      ss.activeRollout
        ? `${ss.activeRollout} (active)`
        : ss.lastRollout
          ? `${ss.lastRollout.id} ${ss.lastRollout.phase}`
          : "",
    ]),
  );
  const images = table(
    ["VERSION", "SCALE SETS", "INSTANCES", "END OF LIFE", "APPROVED", "IMAGE"],
    answer.images.map((image) => [
      image.version,
      String(image.scaleSets),
      String(image.instances),
      image.endOfLifeDate ? `${image.endOfLifeDate.slice(0, 10)} (${image.retiresInDays} d)` : "",
      image.approved === undefined ? "" : image.approved ? "yes" : "NO",
      image.imageVersionId,
    ]),
  );
  const findings =
    answer.findings.length === 0
      ? ["no findings"]
      : answer.findings.map((f) => `${f.severity.toUpperCase()} ${f.code}: ${f.message}`);
  const scopes = answer.scopes
    .map(
      (s) =>
        `${s.subscriptionId}${s.resourceGroup ? `/${s.resourceGroup}` : ""} read ${s.readAt}${s.cached ? " (cached)" : ""}`,
    )
    .join("; ");
  return [scaleSets, "", images, "", ...findings, "", `scopes: ${scopes}`, `source: ${answer.source}`].join(
    "\n",
  );
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}
