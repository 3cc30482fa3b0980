/** The daemon's configuration as config/default.yaml gives it: tests override only what they mean to. */
import { loadConfig } from "../../src/config/load-config.ts";

export const defaultConfig = loadConfig({ env: {} });
