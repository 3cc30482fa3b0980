import { describe, expect, it } from "vitest";
import { keySlot, shardConcurrency, shardOf, shardPrefixes } from "../../../src/engine/queue/queue-shards.ts";

describe("queue shards", () => {
  it("keep the configured prefix itself with one shard (the layout of existing installs)", () => {
    expect(shardPrefixes("{canaryd}", 1)).toEqual(["{canaryd}"]);
    expect(shardOf("ro-anything", 1)).toBe(0);
  });

  it("compute Redis Cluster slots as CLUSTER KEYSLOT does", () => {
    // Values from the Redis Cluster specification and `redis-cli cluster keyslot`.
    expect(keySlot("123456789")).toBe(12_739);
    expect(keySlot("foo")).toBe(12_182);
    expect(keySlot("{user1000}.following")).toBe(keySlot("user1000"));
    expect(keySlot("{canaryd}:rollout:x")).toBe(keySlot("canaryd"));
  });

  it("give each shard its own hash tag, derived from the prefix, in a third of the slots the state's slot is not in", () => {
    // The slot ranges `redis-cli --cluster create` gives three masters: 0-5460, 5461-10922, 10923-16383.
    const third = (key: string) => Math.floor(keySlot(key) / (16_384 / 3));
    const prefixes = shardPrefixes("{canaryd}", 2);
    expect(prefixes).toHaveLength(2);
    prefixes.forEach((prefix, i) => {
      expect(prefix).toMatch(new RegExp(`^\\{canaryd-q${i}-\\d+\\}$`));
    });
    const thirds = [
      third("{canaryd}:rollouts"),
      ...prefixes.map((prefix) => third(`${prefix}:effects:wait`)),
    ];
    expect(new Set(thirds).size).toBe(3);
    // Deterministic: every process derives the same names.
    expect(shardPrefixes("{canaryd}", 2)).toEqual(prefixes);
    expect(shardPrefixes("{other}", 2)).not.toEqual(prefixes);
  });

  it("keep the state's band free whichever band the prefix's slot falls in", () => {
    for (const prefix of ["{canaryd}", "{canaryd-eu}", "{a}", "{b}", "{c}", "{cdtest-0123456789}"]) {
      const quarter = (key: string) => Math.floor(keySlot(key) / (16_384 / 4));
      const bands = [quarter(prefix), ...shardPrefixes(prefix, 3).map(quarter)];
      expect(new Set(bands).size, prefix).toBe(4);
    }
  });

  it("spread five shards over six bands: two per third of the slots, one where the state is", () => {
    const third = (key: string) => Math.floor(keySlot(key) / (16_384 / 3));
    const state = third("{canaryd}");
    const counts = [0, 0, 0];
    for (const prefix of shardPrefixes("{canaryd}", 5))
      counts[third(prefix)] = (counts[third(prefix)] ?? 0) + 1;
    expect(counts[state]).toBe(1);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(5);
    expect(counts.filter((count) => count === 2)).toHaveLength(2);
  });

  it("suffix an untagged (single-node) prefix", () => {
    expect(shardPrefixes("cdtest", 2)).toEqual(["cdtest-q0", "cdtest-q1"]);
  });

  it("route a rollout to one shard, stably, and spread rollouts evenly", () => {
    const ids = Array.from({ length: 3_000 }, (_, i) => `ro-${(1_700_000_000_000 + i).toString(36)}-${i}`);
    for (const id of ids.slice(0, 50)) expect(shardOf(id, 3)).toBe(shardOf(id, 3));
    const counts = [0, 0, 0];
    for (const id of ids) counts[shardOf(id, 3)] = (counts[shardOf(id, 3)] ?? 0) + 1;
    for (const count of counts) expect(count).toBeGreaterThan(900);
    // A fixed value: a change of the hash would move in-flight rollouts' jobs to other shards.
    expect(
      ["ro-a", "ro-b", "ro-c", "ro-d", "ro-e", "ro-f"].map((id) => shardOf(id, 3)),
    ).toMatchInlineSnapshot(`
      [
        0,
        1,
        0,
        2,
        1,
        0,
      ]
    `);
  });

  it("split workerConcurrency over the shards, rounding up", () => {
    expect(shardConcurrency(16, 1)).toBe(16);
    expect(shardConcurrency(16, 3)).toBe(6);
    expect(shardConcurrency(2, 6)).toBe(1);
  });
});
