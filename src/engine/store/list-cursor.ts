/** The opaque cursor of rollout lists: the creation sequence of the last item returned. */
import { CanarydError } from "../service/rollout-service.ts";

export const invalidCursor = () =>
  new CanarydError("INVALID_CURSOR", 400, "cursor is not one this server returned");

export function encodeCursor(sequence: number): string {
  return Buffer.from(JSON.stringify({ s: sequence })).toString("base64url");
}

export function decodeCursor(cursor: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { s?: unknown };
    if (typeof parsed.s === "number" && Number.isInteger(parsed.s) && parsed.s > 0) return parsed.s;
  } catch {
    // falls through to the coded error
  }
  throw invalidCursor();
}
