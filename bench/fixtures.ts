/** Temp homes, a fixed key and environments for the benchmarks: nothing touches the user's real tokenkeeper data. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TokenSet } from '../src/core/types.ts';

/** Repository root (bench/..). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A fixed 32-byte key (64 hex characters): benchmark stores are throwaway, so a constant key is fine. */
export const BENCH_KEY = '3f1c9a0b7d2e4f5a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c';

export function makeHome(label: string): string {
  return mkdtempSync(join(tmpdir(), `tokenkeeper-bench-${label}-`));
}

export function removeHome(home: string): void {
  rmSync(home, { recursive: true, force: true });
}

/**
 * The environment for a keeper (in process or a subprocess) rooted at `home`: the caller's environment without
 * any TOKENKEEPER_* setting that could point at real data, plus the temp home, the fixed key and silent logs.
 */
export function benchEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TOKENKEEPER_')) env[key] = value;
  }
  env.TOKENKEEPER_HOME = home;
  env.TOKENKEEPER_KEY = BENCH_KEY;
  env.TOKENKEEPER_LOG_LEVEL = 'silent';
  return env;
}

/** A token set whose access token is valid for `lifetimeSeconds` from now (so nothing is due). */
export function freshTokens(accessToken: string, refreshToken: string, lifetimeSeconds = 28_800): TokenSet {
  const now = Date.now();
  return {
    accessToken,
    refreshToken,
    expiresAt: now + lifetimeSeconds * 1000,
    obtainedAt: now,
    scope: 'activity heartrate profile sleep',
    tokenType: 'Bearer',
  };
}
