import { appendFileSync, chmodSync, existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensurePrivateDir } from '../stores/files.ts';

export type DeliveryOutcome = 'delivered' | 'retrying' | 'failed' | 'abandoned';

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

/** An append-only JSON-lines file (0600) of delivery attempts; rolls over to `.1` at 1 MiB. */
export class DeliveryLog {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  append(record: DeliveryRecord): void {
    try {
      ensurePrivateDir(dirname(this.path));
      if (existsSync(this.path) && statSync(this.path).size > MAX_LOG_BYTES) {
        renameSync(this.path, `${this.path}.1`);
      }
      appendFileSync(this.path, `${JSON.stringify(record)}\n`, { mode: 0o600 });
      chmodSync(this.path, 0o600);
    } catch {
      // The log is for operators; a full disk must not stop deliveries.
    }
  }

  /** The most recent records, oldest first. */
  recent(limit: number): DeliveryRecord[] {
    const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');
    const lines = `${read(`${this.path}.1`)}${read(this.path)}`.split('\n').filter(Boolean);
    return lines.slice(-limit).flatMap((line) => {
      try {
        return [JSON.parse(line) as DeliveryRecord];
      } catch {
        return [];
      }
    });
  }
}
