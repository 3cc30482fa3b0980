/** Runs a Lua script by its SHA, loading it on first use (NOSCRIPT) so each call sends only the hash. */
import { createHash } from "node:crypto";
import type { RedisClient } from "./redis-connection.ts";

export interface LuaScript {
  lua: string;
  sha: string;
}

export function luaScript(lua: string): LuaScript {
  return { lua, sha: createHash("sha1").update(lua).digest("hex") };
}

export async function runScript(
  redis: RedisClient,
  script: LuaScript,
  keys: string[],
  args: (string | number | Buffer)[],
) {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("NOSCRIPT")) {
      return redis.eval(script.lua, keys.length, ...keys, ...args);
    }
    throw error;
  }
}
