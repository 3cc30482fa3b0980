import { Cluster, Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import {
  createRedisClient,
  parseClusterNode,
  RedisTargetError,
  redisOptionsFromUrl,
} from "../../../src/engine/store/redis-connection.ts";

describe("redis connection", () => {
  it("reads host, port, database, credentials and TLS from a URL", () => {
    expect(redisOptionsFromUrl("rediss://bot:p%40ss@cache:6380/2")).toEqual({
      host: "cache",
      port: 6380,
      db: 2,
      username: "bot",
      password: "p@ss",
      tls: {},
    });
  });

  it("parses cluster nodes as host:port, IPv6 in brackets, and refuses anything else", () => {
    expect(parseClusterNode("10.0.0.1:7000")).toEqual({ host: "10.0.0.1", port: 7000 });
    expect(parseClusterNode("[::1]:7001")).toEqual({ host: "::1", port: 7001 });
    for (const bad of ["10.0.0.1", ":7000", "host:0", "host:70000", "host:x"]) {
      expect(() => parseClusterNode(bad), bad).toThrow(RedisTargetError);
    }
  });

  it("makes a single-node client from a URL alone", () => {
    const client = createRedisClient({ url: "redis://127.0.0.1:6390/1" }, { lazyConnect: true });
    expect(client).toBeInstanceOf(Redis);
    expect((client as Redis).options).toMatchObject({ host: "127.0.0.1", port: 6390, db: 1 });
    client.disconnect();
  });

  it("makes a Cluster client from nodes, taking only credentials and TLS from the URL", () => {
    const client = createRedisClient(
      { url: "rediss://:secret@ignored:1/3", clusterNodes: ["10.0.0.1:7000", "10.0.0.2:7000"] },
      { lazyConnect: true, maxRetriesPerRequest: 3 },
    );
    expect(client).toBeInstanceOf(Cluster);
    const options = (client as Cluster).options;
    expect(options.lazyConnect).toBe(true);
    expect(options.redisOptions).toEqual({ password: "secret", tls: {}, maxRetriesPerRequest: 3 });
    client.disconnect();
  });

  it("refuses a target with neither a URL nor cluster nodes", () => {
    expect(() => createRedisClient({ clusterNodes: [] })).toThrow(RedisTargetError);
  });
});
