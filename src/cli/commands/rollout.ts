/** `canaryd rollout ...`: plan, start, list, status, wait, events, pause, resume, approve, abort. */

import { readFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import { rolloutPhases } from "../../domain/rollout-view.ts";
import type { SpecFormat } from "../client/api-client.ts";
import { type CliIo, clientFrom, processIo } from "../client/cli-io.ts";
import { asClientCommand, type ClientOptions, runAction, timeoutOption } from "../client/command-kit.ts";
import { parseDuration } from "../client/duration.ts";
import { CliError } from "../client/errors.ts";
import { exitCodes, exitCodesHelp } from "../client/exit-codes.ts";
import { followEvents } from "../client/follow-events.ts";
import { formatDeadLetters, formatEntry, formatList, formatPlan, formatView } from "../client/format.ts";
import { watchRollout } from "../client/watch.ts";

interface SpecOptions extends ClientOptions {
  file: string;
}

async function readSpec(io: CliIo, file: string): Promise<{ text: string; format: SpecFormat }> {
  try {
    const text = file === "-" ? await io.readStdin() : await readFile(file, "utf8");
    return { text, format: file.toLowerCase().endsWith(".json") ? "json" : "yaml" };
  } catch (err) {
    throw new CliError(
      `cannot read the spec ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      exitCodes.usage,
    );
  }
}

const durationMs = (text: string) => parseDuration(text) ?? 0;

export function registerRollout(program: Command, io: CliIo = processIo()): void {
  const rollout = program
    .command("rollout")
    .description("Start, watch and steer rollouts through the daemon's API")
    .addHelpText(
      "after",
      `\nRun \`canaryd rollout <command> --help\` for a command's options.\n${exitCodesHelp}`,
    );

  asClientCommand(rollout.command("plan"), io)
    .description(
      "Dry run: show the waves, batches and preflight findings; change nothing (exits 9 if preflight would refuse)",
    )
    .requiredOption("-f, --file <spec>", "rollout spec, YAML or JSON (`-` reads stdin)")
    .action(
      runAction(io, async (options: SpecOptions) => {
        const spec = await readSpec(io, options.file);
        const plan = await clientFrom(io, options.url).plan(spec.text, spec.format);
        io.out(options.json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
        return plan.wouldStart ? exitCodes.completed : exitCodes.rejected;
      }),
    );

  asClientCommand(rollout.command("start"), io)
    .description("Start a rollout; with --wait, follow it and exit with its outcome")
    .requiredOption("-f, --file <spec>", "rollout spec, YAML or JSON (`-` reads stdin)")
    .option("--wait", "follow the rollout until it ends; the exit code tells how it ended")
    .addOption(timeoutOption("with --wait: give up waiting after", "2h"))
    .option("--idempotency-key <key>", "a retried start with the same key returns the same rollout")
    .action(
      runAction(
        io,
        async (options: SpecOptions & { wait?: boolean; timeout: string; idempotencyKey?: string }) => {
          const client = clientFrom(io, options.url);
          const spec = await readSpec(io, options.file);
          const view = await client.start(spec.text, spec.format, options.idempotencyKey);
          if (!options.wait) {
            io.out(
              options.json
                ? JSON.stringify(view, null, 2)
                : `started rollout ${view.id} (${view.name}): ${view.phase}`,
            );
            return exitCodes.completed;
          }
          if (!options.json)
            io.out(`started rollout ${view.id} (${view.name}); waiting up to ${options.timeout}`);
          return watchRollout(client, io, view.id, {
            timeoutMs: durationMs(options.timeout),
            json: Boolean(options.json),
          });
        },
      ),
    );

  asClientCommand(rollout.command("list"), io)
    .description("List rollouts")
    .addOption(new Option("--phase <phase>", "only rollouts in this phase").choices(rolloutPhases))
    .option("--scale-set <id>", "only rollouts touching this scale set (resource id)")
    .option("--limit <n>", "page size (1-100)", "20")
    .option("--cursor <cursor>", "the next page, as the previous page printed it")
    .action(
      runAction(
        io,
        async (
          options: ClientOptions & { phase?: string; scaleSet?: string; limit: string; cursor?: string },
        ) => {
          const limit = Number(options.limit);
          if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
            throw new CliError("--limit must be an integer from 1 to 100", exitCodes.usage);
          }
          const page = await clientFrom(io, options.url).list({
            limit,
            ...(options.phase ? { phase: options.phase } : {}),
            ...(options.scaleSet ? { scaleSetId: options.scaleSet } : {}),
            ...(options.cursor ? { cursor: options.cursor } : {}),
          });
          if (options.json) io.out(JSON.stringify(page, null, 2));
          else {
            io.out(formatList(page.items));
            if (page.nextCursor) io.out(`more: --cursor ${page.nextCursor}`);
          }
          return exitCodes.completed;
        },
      ),
    );

  asClientCommand(rollout.command("status"), io)
    .description("Show a rollout: phase, progress per scale set and batch, gate evidence, previous versions")
    .argument("<id>", "rollout id")
    .option("--timeline", "also print the timeline")
    .action(
      runAction(io, async (id: string, options: ClientOptions & { timeline?: boolean }) => {
        const view = await clientFrom(io, options.url).get(id);
        if (options.json) io.out(JSON.stringify(view, null, 2));
        else {
          const { timeline, deadLetters, ...rest } = view;
          io.out(formatView(rest));
          for (const line of formatDeadLetters(deadLetters ?? [])) io.out(line);
          if (options.timeline && rest.compacted)
            io.out(
              `compacted at ${rest.compactedAt}: the timeline is gone; \`canaryd rollout record ${id}\` prints the record`,
            );
          else if (options.timeline) for (const entry of timeline ?? []) io.out(formatEntry(entry));
        }
        return exitCodes.completed;
      }),
    );

  asClientCommand(rollout.command("record"), io)
    .description("Print a rollout's release record (JSON), or with --markdown its release note")
    .argument("<id>", "rollout id")
    .option("--markdown", "the record as a Markdown release note")
    .action(
      runAction(io, async (id: string, options: ClientOptions & { markdown?: boolean }) => {
        const client = clientFrom(io, options.url);
        if (options.markdown) io.out(String(await client.record(id, "markdown")).trimEnd());
        else io.out(JSON.stringify(await client.record(id, "json"), null, 2));
        return exitCodes.completed;
      }),
    );

  asClientCommand(rollout.command("wait"), io)
    .description("Wait until a rollout ends; the exit code tells how it ended (survives daemon restarts)")
    .argument("<id>", "rollout id")
    .addOption(timeoutOption("give up waiting after", "2h"))
    .action(
      runAction(io, async (id: string, options: ClientOptions & { timeout: string }) =>
        watchRollout(clientFrom(io, options.url), io, id, {
          timeoutMs: durationMs(options.timeout),
          json: Boolean(options.json),
        }),
      ),
    );

  asClientCommand(rollout.command("events"), io)
    .description("Follow a rollout's timeline until it ends (--json: one entry per line)")
    .argument("<id>", "rollout id")
    .option("--after <seq>", "start after this sequence number")
    .action(
      runAction(io, async (id: string, options: ClientOptions & { after?: string }) => {
        const after = options.after === undefined ? undefined : Number(options.after);
        if (after !== undefined && (!Number.isInteger(after) || after < 0)) {
          throw new CliError("--after must be a sequence number", exitCodes.usage);
        }
        const client = clientFrom(io, options.url);
        // Fail fast (unknown rollout, no daemon, no access) before following with reconnects.
        await client.get(id);
        const stop = new AbortController();
        let outage = false;
        await followEvents(client, id, {
          signal: stop.signal,
          ...(after !== undefined ? { afterSeq: after } : {}),
          onEntry: (entry) => {
            outage = false;
            io.out(options.json ? JSON.stringify(entry) : formatEntry(entry));
          },
          onReconnect: (err) => {
            if (!outage && !options.json)
              io.err(`${err instanceof Error ? err.message : String(err)}; reconnecting`);
            outage = true;
          },
        });
        return exitCodes.completed;
      }),
    );

  asClientCommand(rollout.command("skip-window"), io)
    .description("Start the wave a closed change window holds (on-call; recorded with your identity)")
    .argument("<id>", "rollout id")
    .requiredOption("--reason <text>", "why: recorded in the timeline with your identity")
    .action(
      runAction(io, async (id: string, options: ClientOptions & { reason: string }) => {
        const view = await clientFrom(io, options.url).act(id, "skipWindow", options.reason);
        io.out(
          options.json ? JSON.stringify(view, null, 2) : `skip-window: rollout ${view.id} is ${view.phase}`,
        );
        return exitCodes.completed;
      }),
    );

  for (const action of ["pause", "resume", "approve", "abort"] as const) {
    const what = {
      pause: "Pause a rollout after the step in flight",
      resume: "Resume a paused rollout",
      approve: "Approve a rollout waiting for approval",
      abort: "Stop a rollout and roll back what it changed",
    }[action];
    asClientCommand(rollout.command(action), io)
      .description(what)
      .argument("<id>", "rollout id")
      .option("--reason <text>", "recorded in the timeline with your identity")
      .action(
        runAction(io, async (id: string, options: ClientOptions & { reason?: string }) => {
          const view = await clientFrom(io, options.url).act(id, action, options.reason);
          io.out(
            options.json ? JSON.stringify(view, null, 2) : `${action}: rollout ${view.id} is ${view.phase}`,
          );
          return exitCodes.completed;
        }),
      );
  }
}
