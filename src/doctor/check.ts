import { exitCodes } from '../core/errors.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

/** One line of `tokenkeeper doctor`: what was checked, how it went, and what to do about it. */
export interface CheckResult {
  /** Stable id for --json, e.g. "store" or "provider:fitbit:endpoint". */
  id: string;
  /** What was checked, as printed: "store", "provider fitbit". */
  title: string;
  status: CheckStatus;
  message: string;
  /** What to do, for warn and fail. */
  fix?: string;
  /** The exit code a failure of this check maps to (the README's table). */
  exitCode?: number;
}

export const ok = (id: string, title: string, message: string): CheckResult => ({
  id,
  title,
  status: 'ok',
  message,
});

export const warn = (id: string, title: string, message: string, fix?: string): CheckResult => ({
  id,
  title,
  status: 'warn',
  message,
  fix,
});

export const fail = (
  id: string,
  title: string,
  message: string,
  fix: string | undefined,
  exitCode: number,
): CheckResult => ({ id, title, status: 'fail', message, fix, exitCode });

export const skip = (id: string, title: string, message: string): CheckResult => ({
  id,
  title,
  status: 'skip',
  message,
});

/** 0 when nothing failed, else the exit code of the first failure (1 when it has none more specific). */
export function doctorExitCode(results: readonly CheckResult[]): number {
  const failed = results.find((result) => result.status === 'fail');
  return failed ? (failed.exitCode ?? exitCodes.failure) : exitCodes.ok;
}

/** Runs `work` with a deadline; the timer never keeps the process alive. */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
