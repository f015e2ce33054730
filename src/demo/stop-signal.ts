/**
 * An AbortSignal that fires on SIGINT or SIGTERM, or after `durationSeconds` when given. While it is armed the
 * signals do not end the process, so the caller can shut down cleanly and exit 0; `dispose` restores them.
 */
export function stopOnSignalOrTimeout(durationSeconds?: number): {
  signal: AbortSignal;
  dispose: () => void;
} {
  const stop = new AbortController();
  const timer =
    durationSeconds === undefined ? undefined : setTimeout(() => stop.abort(), durationSeconds * 1000);
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: stop.signal,
    dispose: () => {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
