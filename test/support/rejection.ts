/** Awaits a promise that must reject and returns the error. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** Runs a call that must throw and returns the error. */
export function refusal(call: () => unknown): Error & { code?: string } {
  try {
    call();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a refusal, but the call returned');
}
