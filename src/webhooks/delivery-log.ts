import { closeSync, constants, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureDataDir, existingRegularFile, readRegularFile } from '../files/owned-path.ts';

/**
 * `postponed`: a shutdown cut the attempt off and the delivery waits in the store's outbox for the next start;
 * `abandoned`: the same without a durable outbox (in memory), so the delivery is given up.
 */
export type DeliveryOutcome = 'delivered' | 'retrying' | 'failed' | 'abandoned' | 'postponed';

/** One attempt to deliver one webhook to one endpoint. */
export interface DeliveryRecord {
  at: string;
  eventId: string;
  event: string;
  connection: string;
  /** The endpoint's name, or its origin (a URL path or query may carry a secret, so neither is logged). */
  endpoint: string;
  attempt: number;
  outcome: DeliveryOutcome;
  status?: number;
  error?: string;
  durationMs?: number;
  nextAttemptInMs?: number;
}

const MAX_LOG_BYTES = 1024 * 1024;

export function deliveryLogPath(dataDir: string): string {
  return join(dataDir, 'webhook-deliveries.jsonl');
}

/**
 * An append-only JSON-lines file (0600) of delivery attempts in the data dir; rolls over to `.1` at 1 MiB. Opening
 * checks both files by the rule of owned-path.ts (regular files or absent, never links), so a log path that is not
 * tokenkeeper's is refused at start; appending never follows a link and never chmods.
 */
export class DeliveryLog {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
    ensureDataDir(dirname(path), { create: false });
    for (const file of [path, rolledOver(path)]) existingRegularFile(file, 'webhook delivery log');
  }

  append(record: DeliveryRecord): void {
    try {
      ensureDataDir(dirname(this.path));
      if ((existingRegularFile(this.path, 'webhook delivery log')?.size ?? 0) > MAX_LOG_BYTES) {
        renameSync(this.path, rolledOver(this.path));
      }
      const fd = openSync(
        this.path,
        constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
        0o600,
      );
      try {
        writeSync(fd, `${JSON.stringify(record)}\n`);
      } finally {
        closeSync(fd);
      }
    } catch {
      // The log is for operators; a full disk must not stop deliveries.
    }
  }

  /** The most recent records, oldest first. */
  recent(limit: number): DeliveryRecord[] {
    const read = (path: string) =>
      existingRegularFile(path, 'webhook delivery log') === undefined
        ? ''
        : readRegularFile(path, 'webhook delivery log', { maxBytes: 2 * MAX_LOG_BYTES }).toString('utf8');
    const lines = `${read(rolledOver(this.path))}${read(this.path)}`.split('\n').filter(Boolean);
    return lines.slice(-limit).flatMap((line) => {
      try {
        return [JSON.parse(line) as DeliveryRecord];
      } catch {
        return [];
      }
    });
  }
}

function rolledOver(path: string): string {
  return `${path}.1`;
}
