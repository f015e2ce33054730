import { existsSync, readFileSync } from 'node:fs';
import { homedir, platform } from 'node:os';
import { join, resolve } from 'node:path';
import { TokenkeeperError } from '../core/errors.ts';
import { logLevels, type LogLevel } from '../core/logger.ts';
import type { ConfigFile } from './schema.ts';
import { loadSchema } from './schema-loader.ts';

export interface LoadedConfig {
  config: ConfigFile;
  /** The file it came from, if any. */
  path?: string;
  dataDir: string;
  /** Where connections live: a SQLite file path, or a URL (postgres://…, keyvault://…) for other stores. */
  store: string;
}

export interface LoadConfigOptions {
  /** Explicit config file (--config); must exist. */
  path?: string;
  /** The config itself instead of a file (createKeeper's `config` object); checked like a file. */
  inline?: unknown;
  /** Store override (--store). */
  store?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Reads the config: an inline config object, else --config, else TOKENKEEPER_CONFIG, else ./tokenkeeper.json if
 * present, else none. Env overrides: TOKENKEEPER_HOME (data dir), TOKENKEEPER_STORE, TOKENKEEPER_LOG_LEVEL.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  let config: ConfigFile = {};
  let path: string | undefined;
  if (options.inline !== undefined) {
    config = validateConfig(options.inline, 'config passed to createKeeper');
  } else {
    const explicit = options.path ?? env.TOKENKEEPER_CONFIG;
    const candidate = explicit ? resolve(cwd, explicit) : resolve(cwd, 'tokenkeeper.json');
    if (explicit || existsSync(candidate)) {
      path = candidate;
      config = parseConfigFile(candidate);
    }
  }
  if (env.TOKENKEEPER_LOG_LEVEL) {
    config = { ...config, logLevel: parseLogLevel(env.TOKENKEEPER_LOG_LEVEL) };
  }
  const dataDir = resolveDataDir(config, env, cwd);
  const storeSetting = options.store ?? env.TOKENKEEPER_STORE ?? config.store;
  return { config, path, dataDir, store: resolveStoreSpec(storeSetting, dataDir, cwd) };
}

/**
 * The data dir: TOKENKEEPER_HOME, else "dataDir" in the config, else the platform default; an empty setting counts
 * as unset (it would otherwise mean the current directory). Whether tokenkeeper may use it is decided on open.
 */
export function resolveDataDir(config: ConfigFile, env: NodeJS.ProcessEnv, cwd: string): string {
  return resolve(cwd, env.TOKENKEEPER_HOME || config.dataDir || defaultDataDir(env));
}

/** A store URL stays as it is; `sqlite:PATH` and bare paths become absolute file paths. */
export function resolveStoreSpec(setting: string | undefined, dataDir: string, cwd: string): string {
  if (!setting) return join(dataDir, 'tokenkeeper.db');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(setting) && !setting.startsWith('sqlite:')) return setting;
  return resolve(cwd, setting.replace(/^sqlite:(\/\/)?/, ''));
}

function parseConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TokenkeeperError(
      'config',
      `cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TokenkeeperError(
      'config',
      `config file ${path} is not valid JSON ${jsonErrorLocation(text, error)}`,
    );
  }
  return validateConfig(json, `config file ${path}`);
}

/** Checks a config object (from a file or passed to createKeeper) against the schema; one-line error. */
export function validateConfig(value: unknown, origin: string): ConfigFile {
  const parsed = loadSchema().configSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : '(top level)';
    throw new TokenkeeperError('config', `${origin}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** "(line 3, column 7)" from a JSON.parse error, without quoting the file (it may hold secrets or span lines). */
function jsonErrorLocation(text: string, error: unknown): string {
  const message = (error as Error).message;
  const hint = 'check commas, quotes and brackets';
  const lineColumn = /line (\d+) column (\d+)/.exec(message);
  if (lineColumn) return `(line ${lineColumn[1]}, column ${lineColumn[2]}): ${hint}`;
  const position = /position (\d+)/.exec(message)?.[1];
  if (position !== undefined) {
    const before = text.slice(0, Number(position)).split('\n');
    return `(line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}): ${hint}`;
  }
  return /end of JSON input/i.test(message) ? '(it ends too early)' : `(${hint})`;
}

function parseLogLevel(value: string): LogLevel {
  const level = logLevels.find((candidate) => candidate === value);
  if (!level)
    throw new TokenkeeperError('config', `TOKENKEEPER_LOG_LEVEL must be one of ${logLevels.join(', ')}`);
  return level;
}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (platform() === 'win32')
    return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'tokenkeeper');
  if (platform() === 'darwin') return join(homedir(), 'Library', 'Application Support', 'tokenkeeper');
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'tokenkeeper');
}
