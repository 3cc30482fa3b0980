/**
 * The fault, bad-input, security and cluster suites write what they showed to
 * var/reliability-results/<suite>.json (ignored by git, so a test run changes no tracked file) as
 * `{ suite, rows: [{ scenario, trials, outcome, lost }] }`. `npm run reliability:doc` copies those
 * into the tracked test/reliability/results/ and regenerates docs/reliability.md from them. A trial that throws is recorded as FAILED with its
 * message and the error is rethrown, so the table never claims more than the run showed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface ResultRow {
  scenario: string;
  trials: number;
  /** What the run ended in, in words a reader of the doc understands. */
  outcome: string;
  /** What was lost; "nothing" when nothing was. */
  lost: string;
}

export interface SuiteRows {
  suite: string;
  rows: ResultRow[];
}

/** Where a run writes (ignored); the tracked record of the last published run is test/reliability/results/. */
export const runResultsDir = fileURLToPath(new URL("../../var/reliability-results/", import.meta.url));

export class ResultsRecorder {
  readonly suite: string;
  readonly rows: ResultRow[] = [];

  constructor(suite: string) {
    this.suite = suite;
  }

  /** Runs a scenario; its outcome and loss are recorded, or FAILED with the reason when it throws. */
  async trial(
    scenario: string,
    trials: number,
    run: () => Promise<{ outcome: string; lost?: string }>,
  ): Promise<void> {
    try {
      const { outcome, lost } = await run();
      this.rows.push({ scenario, trials, outcome, lost: lost ?? "nothing" });
    } catch (error) {
      const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
      this.rows.push({ scenario, trials, outcome: `FAILED: ${message}`, lost: "not established" });
      throw error;
    }
  }

  write(): void {
    mkdirSync(runResultsDir, { recursive: true });
    const results: SuiteRows = { suite: this.suite, rows: this.rows };
    writeFileSync(`${runResultsDir}${this.suite}.json`, `${JSON.stringify(results, null, 2)}\n`);
  }
}
