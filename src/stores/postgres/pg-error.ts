/** A one-line reason from a pg or socket error (AggregateError from a multi-address connect has no message). */
export function pgErrorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.message) return error.message.split('\n')[0] ?? error.name;
  const inner = (error as Error & { errors?: unknown[] }).errors;
  if (Array.isArray(inner) && inner.length > 0) return inner.map(pgErrorMessage).join('; ');
  return (error as NodeJS.ErrnoException).code ?? error.name;
}
