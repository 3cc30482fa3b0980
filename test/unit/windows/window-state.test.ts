/**
 * The pure window evaluation (src/windows/window-state.ts): deny over allow, outside allow is
 * closed, freezes, matching, and the DST edges of a schedule read in its IANA time zone.
 */
import { describe, expect, it } from "vitest";
import { type ChangeWindowInput, type Freeze, windowSchema } from "../../../src/windows/schema.ts";
import { windowState } from "../../../src/windows/window-state.ts";

const w = (input: ChangeWindowInput) => windowSchema.parse(input);
const sub = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets";
const web = { scaleSetIds: [`${sub}/web-a`], labels: { team: "web" } };
const at = (iso: string) => new Date(iso);

describe("windowState", () => {
  it("is open with nothing configured", () => {
    // Mutation: closed when no allow window applies (allows.length === 0 treated as outside) -> fails.
    expect(windowState(at("2026-06-01T12:00:00Z"), [], [], web)).toEqual({ open: true, closedBy: [] });
  });

  it("deny overrides allow: inside both is closed, and it opens when the deny ends", () => {
    // Mutation: allow checked before deny (an active allow returns open) -> fails.
    const windows = [
      w({ name: "weekdays", kind: "allow", schedule: "0 8 * * 1-5", durationSeconds: 10 * 3600 }),
      w({ name: "lunch", kind: "deny", schedule: "0 12 * * *", durationSeconds: 3600 }),
    ];
    const state = windowState(at("2026-06-03T12:30:00Z"), windows, [], web);
    expect(state.open).toBe(false);
    expect(state.closedBy).toEqual([{ kind: "deny", name: "lunch", until: "2026-06-03T13:00:00.000Z" }]);
    expect(state.nextOpenAt).toBe("2026-06-03T13:00:00.000Z");
    expect(windowState(at("2026-06-03T13:00:00Z"), windows, [], web).open).toBe(true);
  });

  it("with allow windows, outside them is closed until the next allow start (over a weekend)", () => {
    // Mutation: outsideAllow dropped -> open on Saturday -> fails.
    const windows = [
      w({ name: "weekdays", kind: "allow", schedule: "0 8 * * 1-5", durationSeconds: 8 * 3600 }),
    ];
    const saturday = windowState(at("2026-06-06T10:00:00Z"), windows, [], web);
    expect(saturday).toEqual({
      open: false,
      closedBy: [{ kind: "outsideAllow", name: "weekdays" }],
      nextOpenAt: "2026-06-08T08:00:00.000Z",
    });
    // End exclusive, start inclusive.
    expect(windowState(at("2026-06-08T08:00:00Z"), windows, [], web).open).toBe(true);
    expect(windowState(at("2026-06-08T16:00:00Z"), windows, [], web).open).toBe(false);
  });

  it("a deny at the next allow start pushes nextOpenAt past both", () => {
    // Mutation: nextOpenAt = first candidate without re-checking it -> 08:00 -> fails.
    const windows = [
      w({ name: "mornings", kind: "allow", schedule: "0 8 * * *", durationSeconds: 4 * 3600 }),
      w({ name: "standup", kind: "deny", schedule: "0 8 * * *", durationSeconds: 1800 }),
    ];
    const state = windowState(at("2026-06-03T02:00:00Z"), windows, [], web);
    expect(state.nextOpenAt).toBe("2026-06-03T08:30:00.000Z");
  });

  it("a freeze closes everything until its end and names its ticket", () => {
    // Mutation: freezes ignored -> open -> fails.
    const freezes: Freeze[] = [
      { start: "2026-12-20T00:00:00Z", end: "2027-01-04T00:00:00Z", reason: "holidays", ticket: "CHG-1" },
    ];
    const state = windowState(at("2026-12-24T09:00:00Z"), [], freezes, web);
    expect(state).toEqual({
      open: false,
      closedBy: [{ kind: "freeze", name: "holidays", ticket: "CHG-1", until: "2027-01-04T00:00:00Z" }],
      nextOpenAt: "2027-01-04T00:00:00.000Z",
    });
  });

  it("applies a window only to the waves its match names (scale set glob, labels)", () => {
    // Mutation: match ignored -> the db wave is closed by the web-only deny -> fails.
    const windows = [
      w({
        name: "web-deny",
        kind: "deny",
        schedule: "0 0 * * *",
        durationSeconds: 86_399,
        match: { scaleSets: [`${sub}/web-*`], labels: { team: "web" } },
      }),
    ];
    expect(windowState(at("2026-06-03T12:00:00Z"), windows, [], web).open).toBe(false);
    expect(
      windowState(at("2026-06-03T12:00:00Z"), windows, [], { ...web, scaleSetIds: [`${sub}/db-a`] }).open,
    ).toBe(true);
    expect(
      windowState(at("2026-06-03T12:00:00Z"), windows, [], { ...web, labels: { team: "db" } }).open,
    ).toBe(true);
  });

  it("reads the schedule in its time zone across the spring-forward change (New York 09:00 is 14:00Z, then 13:00Z)", () => {
    // Mutation: timezone not passed to Cron (UTC) -> 09:00Z -> fails.
    const windows = [
      w({
        name: "ny",
        kind: "allow",
        schedule: "0 9 * * *",
        durationSeconds: 3600,
        timeZone: "America/New_York",
      }),
    ];
    expect(windowState(at("2026-03-06T10:00:00Z"), windows, [], web).nextOpenAt).toBe(
      "2026-03-06T14:00:00.000Z",
    );
    // 2026-03-08 is the first day of EDT.
    expect(windowState(at("2026-03-08T10:00:00Z"), windows, [], web).nextOpenAt).toBe(
      "2026-03-08T13:00:00.000Z",
    );
    expect(windowState(at("2026-03-08T13:30:00Z"), windows, [], web).open).toBe(true);
    expect(windowState(at("2026-03-08T14:30:00Z"), windows, [], web).open).toBe(false);
  });

  it("a start in the hour skipped by DST fires at the next valid time; an hour repeated fires once", () => {
    // Mutation: occurrence length taken from wall-clock time (2 h on the fall-back day) -> fails.
    const berlin = [
      w({
        name: "night",
        kind: "deny",
        schedule: "30 2 * * *",
        durationSeconds: 3600,
        timeZone: "Europe/Berlin",
      }),
    ];
    // 2026-03-29 02:30 CET does not exist: the occurrence starts 03:00 CEST = 01:00Z.
    const spring = windowState(at("2026-03-29T01:15:00Z"), berlin, [], web);
    expect(spring.open).toBe(false);
    expect(spring.nextOpenAt).toBe("2026-03-29T02:00:00.000Z");
    // 2026-10-25 02:30 happens twice: the deny runs once, from the first 02:30 (00:30Z) for one real hour.
    const fall = windowState(at("2026-10-25T00:45:00Z"), berlin, [], web);
    expect(fall.nextOpenAt).toBe("2026-10-25T01:30:00.000Z");
    expect(windowState(at("2026-10-25T01:45:00Z"), berlin, [], web).open).toBe(true);
  });

  it("says nothing of nextOpenAt when it stays closed for the whole horizon", () => {
    // Mutation: horizon bound removed (loops to maxSteps and returns a time) -> fails.
    const always = [w({ name: "never", kind: "deny", schedule: "0 * * * *", durationSeconds: 7200 })];
    const state = windowState(at("2026-06-03T12:00:00Z"), always, [], web);
    expect(state.open).toBe(false);
    expect(state.nextOpenAt).toBeUndefined();
  });
});
