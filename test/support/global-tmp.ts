/**
 * Vitest globalSetup: every temporary directory a test run makes lands in one directory of its own,
 * removed when the run ends. It creates `<os tmpdir>/canaryd-test-run-XXXX`, points TMPDIR at it
 * before any worker starts (workers, daemons and simulators the tests spawn inherit it, and
 * `os.tmpdir()` reads it), and deletes it in teardown. A run that is killed leaves that one
 * directory behind; tests that clean up after themselves still do, this only catches the rest.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default async function setup(): Promise<() => Promise<void>> {
  const before = process.env.TMPDIR;
  const runDir = await mkdtemp(join(tmpdir(), "canaryd-test-run-"));
  process.env.TMPDIR = runDir;
  return async () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    await rm(runDir, { recursive: true, force: true });
  };
}
