import { AsyncLocalStorage } from 'node:async_hooks';
import type { InvocationContext } from '@azure/functions';
import type { Logger } from '../core/logger.ts';
import { consoleLogger } from './function-keeper.ts';

interface Slot {
  context: InvocationContext;
  open: boolean;
}

const current = new AsyncLocalStorage<Slot>();

/**
 * Runs one invocation's work with `context` as the destination of the shared keeper's logs (invocationLogger).
 * The keeper is shared by the invocations of a warm instance, which may overlap: each async chain logs to the
 * invocation that started it, and after that invocation returned to the console.
 */
export async function inInvocation<T>(context: InvocationContext, run: () => Promise<T>): Promise<T> {
  const slot: Slot = { context, open: true };
  try {
    return await current.run(slot, run);
  } finally {
    slot.open = false;
  }
}

type Level = 'info' | 'warn' | 'error';

function forward(level: Level, fields: object, message: string): void {
  const slot = current.getStore();
  if (!slot?.open) return consoleLogger[level](fields, message);
  const line = JSON.stringify({ level, message, ...fields });
  if (level === 'error') slot.context.error(line);
  else if (level === 'warn') slot.context.warn(line);
  else slot.context.log(line);
}

/** The keeper's logger in the Functions app: JSON lines into the current invocation's log (no secrets in fields). */
export const invocationLogger: Logger = {
  debug: () => undefined,
  info: (fields, message) => forward('info', fields, message),
  warn: (fields, message) => forward('warn', fields, message),
  error: (fields, message) => forward('error', fields, message),
};
