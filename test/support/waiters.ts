/**
 * Waiting for output that arrives bit by bit (a child's stderr, a log, webhook deliveries): whoever appends calls
 * `notify()`, and `until` re-checks its probe then.
 */
export class Waiters {
  private readonly checks = new Set<() => void>();

  notify(): void {
    this.checks.forEach((check) => check());
  }

  /**
   * Resolves with the first value `probe` returns that is not undefined, checked at once and on every `notify`;
   * rejects with what `probe` throws (e.g. "exited before…"), or with `timeoutMessage()` after `timeoutMs`.
   */
  until<T>(probe: () => T | undefined, timeoutMs: number, timeoutMessage: () => string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        finish();
        reject(new Error(timeoutMessage()));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.checks.delete(check);
      };
      const check = () => {
        let value: T | undefined;
        try {
          value = probe();
        } catch (error) {
          finish();
          reject(error as Error);
          return;
        }
        if (value === undefined) return;
        finish();
        resolve(value);
      };
      this.checks.add(check);
      check();
    });
  }
}
