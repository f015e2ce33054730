import type pg from 'pg';

/** Cumulative PostgreSQL counters, to turn into per-second rates between two snapshots. */
export interface DbSnapshot {
  at: number;
  commits: number;
  /** Rows inserted + updated + deleted in the store's tables. */
  rowsWritten: number;
  /** Rows read by index or sequential scans of the store's tables. */
  rowsRead: number;
}

/** Reads the counters (PostgreSQL publishes them within about a second of the work). */
export async function dbSnapshot(admin: pg.Pool, schema: string): Promise<DbSnapshot> {
  await admin.query('SELECT pg_stat_clear_snapshot()');
  const db = await admin.query<{ commits: string }>(
    'SELECT xact_commit AS commits FROM pg_stat_database WHERE datname = current_database()',
  );
  const tables = await admin.query<{ written: string | null; read: string | null }>(
    `SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) AS written,
            sum(coalesce(idx_tup_fetch, 0) + seq_tup_read) AS read
     FROM pg_stat_user_tables WHERE schemaname = $1`,
    [schema],
  );
  return {
    at: Date.now(),
    commits: Number(db.rows[0]?.commits ?? 0),
    rowsWritten: Number(tables.rows[0]?.written ?? 0),
    rowsRead: Number(tables.rows[0]?.read ?? 0),
  };
}

export function perSecond(before: DbSnapshot, after: DbSnapshot, seconds: number) {
  return {
    commitsPerSecond: (after.commits - before.commits) / seconds,
    rowsWrittenPerSecond: (after.rowsWritten - before.rowsWritten) / seconds,
    rowsReadPerSecond: (after.rowsRead - before.rowsRead) / seconds,
  };
}
