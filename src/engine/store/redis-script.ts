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

/**
 * A script whose keys and arguments have names. Positional `KEYS[9]`/`ARGV[13]` are easy to shift
 * by one; here the signature is written once and both sides derive from it: the Lua body reads
 * `K.rollout`, `A.revision` and `L.claims` (a Lua table of strings), and the caller passes
 * `{ keys: { rollout }, args: { revision }, lists: { claims } }`, typed by the same names.
 *
 * Encoding (generated, never written by hand): KEYS are the named keys in order, then `keyList`
 * (a variable number of keys, read as the table `KL`); ARGV are the named args in order, then for
 * each list its length and its items.
 */
export interface ScriptSignature<K extends string, A extends string, L extends string> {
  keys: readonly K[];
  /** A variable number of extra keys after the named ones (read in Lua as the table `KL`). */
  keyList?: boolean;
  args: readonly A[];
  lists: readonly L[];
}

export interface NamedScript<K extends string, A extends string, L extends string> extends LuaScript {
  signature: ScriptSignature<K, A, L>;
}

export interface ScriptCall<K extends string, A extends string, L extends string> {
  keys: Record<K, string>;
  keyList?: string[];
  args: Record<A, string | number>;
  lists: Record<L, readonly (string | number)[]>;
}

const luaName = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function namedScript<K extends string, A extends string = never, L extends string = never>(
  signature: ScriptSignature<K, A, L>,
  body: string,
): NamedScript<K, A, L> {
  for (const name of [...signature.keys, ...signature.args, ...signature.lists]) {
    if (!luaName.test(name)) throw new Error(`script name ${name} is not a Lua identifier`);
  }
  const keys = signature.keys.map((k, i) => `${k} = KEYS[${i + 1}]`).join(", ");
  const args = signature.args.map((a, i) => `${a} = ARGV[${i + 1}]`).join(", ");
  const lists = signature.lists.map((l) => `'${l}'`).join(", ");
  const prelude = `
local K = { ${keys} }
local KL = {}
for i = ${signature.keys.length + 1}, #KEYS do KL[#KL + 1] = KEYS[i] end
local A = { ${args} }
local L = {}
do
  local at = ${signature.args.length + 1}
  for _, name in ipairs({ ${lists} }) do
    local n, list = tonumber(ARGV[at]), {}
    for i = 1, n do list[i] = ARGV[at + i] end
    L[name] = list
    at = at + 1 + n
  end
end
`;
  return { ...luaScript(`${prelude}${body}`), signature };
}

export function runNamedScript<K extends string, A extends string, L extends string>(
  redis: RedisClient,
  script: NamedScript<K, A, L>,
  call: ScriptCall<K, A, L>,
) {
  const { signature } = script;
  if (call.keyList && !signature.keyList) throw new Error("this script takes no key list");
  const keys = [...signature.keys.map((k) => call.keys[k]), ...(call.keyList ?? [])];
  const args: (string | number)[] = signature.args.map((a) => call.args[a]);
  for (const l of signature.lists) args.push(call.lists[l].length, ...call.lists[l]);
  return runScript(redis, script, keys, args);
}
