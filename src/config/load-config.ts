/**
 * Configuration in three layers: config/default.yaml, then a file (--config or CANARYD_CONFIG),
 * then environment variables. Validated once; a bad value stops the daemon with one message
 * naming the key, the value and the rule.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { environmentBindings } from "./environment.ts";
import { type Config, configSchema } from "./schema.ts";

export const defaultConfigFile = fileURLToPath(new URL("../../config/default.yaml", import.meta.url));

const secretKeys = new Set(["redis.url", "azure.staticToken"]);

export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  readonly key: string;
  constructor(key: string, message: string) {
    super(message);
    this.name = "ConfigError";
    this.key = key;
  }
}

export interface LoadConfigOptions {
  /** A YAML or JSON file layered over the defaults. */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

type Tree = Record<string, unknown>;

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const merged = readLayer(defaultConfigFile, "config/default.yaml");
  const file = options.file ?? env.CANARYD_CONFIG;
  if (file) deepMerge(merged, readLayer(file, file));
  for (const binding of environmentBindings) {
    const raw = env[binding.variable];
    if (raw !== undefined) setPath(merged, binding.key, binding.parse(raw));
  }
  // Naming a connection file is enough to use it, unless a credential mode was chosen explicitly.
  if (env.CANARYD_AZURE_CONNECTION_FILE && !env.CANARYD_AZURE_CREDENTIAL) {
    setPath(merged, "azure.credential", "connectionFile");
  }
  return validate(merged);
}

function validate(tree: Tree): Config {
  const result = configSchema.safeParse(tree);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new ConfigError("", "configuration is invalid");
  const key = issue.path.join(".");
  const secret = secretKeys.has(key) || key.startsWith("notifications.secrets");
  const value = secret ? "(secret, not shown)" : JSON.stringify(getPath(tree, issue.path));
  const rule =
    issue.code === "unrecognized_keys" ? `unknown key(s): ${issue.keys.join(", ")}` : issue.message;
  throw new ConfigError(key, `invalid configuration: ${key || "(root)"} = ${value}: ${rule}`);
}

function readLayer(path: string, label: string): Tree {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError("", `cannot read configuration file ${label}: ${(error as Error).message}`);
  }
  const parsed: unknown = parseYaml(text, { maxAliasCount: 50 });
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError("", `configuration file ${label} must hold a mapping of keys`);
  }
  return parsed as Tree;
}

function deepMerge(target: Tree, source: Tree): void {
  for (const [key, value] of Object.entries(source)) {
    const current = target[key];
    if (isTree(value) && isTree(current)) deepMerge(current, value);
    else target[key] = value;
  }
}

function setPath(tree: Tree, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  const last = parts.pop() as string;
  let node = tree;
  for (const part of parts) {
    if (!isTree(node[part])) node[part] = {};
    node = node[part] as Tree;
  }
  node[last] = value;
}

function getPath(tree: Tree, path: readonly PropertyKey[]): unknown {
  let node: unknown = tree;
  for (const part of path)
    node = isTree(node) || Array.isArray(node) ? (node as Tree)[part as string] : undefined;
  return node;
}

function isTree(value: unknown): value is Tree {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
