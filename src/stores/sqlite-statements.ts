import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { fileSystemError } from '../files/fs-errors.ts';

/**
 * One SQLite file's prepared statements and its error rule, shared by everything that keeps tables in it (the
 * connection store and the webhook outbox).
 */
export class SqliteStatements {
  readonly db: DatabaseSync;
  readonly location: string;
  private readonly cache = new Map<string, StatementSync>();

  constructor(db: DatabaseSync, location: string) {
    this.db = db;
    this.location = location;
  }

  /** Prepared statements are cached: preparing one costs more than running it. */
  statement(sql: string): StatementSync {
    let statement = this.cache.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }

  /** Runs `work`, turning a failure into one line that names the file and what was being done. */
  guard<T>(what: string, work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw fileSystemError(error, 'store', this.location, what);
    }
  }
}
