import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../../src/engine/store/list-cursor.ts";

describe("list cursors", () => {
  it("round-trip the creation sequence", () => {
    expect(decodeCursor(encodeCursor(42))).toBe(42);
  });

  it.each([
    "",
    "nonsense",
    Buffer.from('{"s":-1}').toString("base64url"),
    Buffer.from('{"s":"1"}').toString("base64url"),
  ])("refuse %j with a coded 400", (cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(
      expect.objectContaining({ code: "INVALID_CURSOR", statusCode: 400 }),
    );
  });
});
