import type pg from 'pg';

/** Cumulative PostgreSQL counters, to turn into per-second rates between two snapshots. */
export interface DbSnapshot {
  at: number;
  /** Transactions committed in the database (pg_stat_database.xact_commit: read-only ones count too). */
  commits: number;
  /** WAL flushes to disk, cluster-wide (pg_stat_wal.wal_sync): durable commits after group commit. */
  walSyncs: number;
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
  const wal = await admin.query<{ syncs: string }>('SELECT wal_sync AS syncs FROM pg_stat_wal');
  const tables = await admin.query<{ written: string | null; read: string | null }>(
    `SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) AS written,
            sum(coalesce(idx_tup_fetch, 0) + seq_tup_read) AS read
     FROM pg_stat_user_tables WHERE schemaname = $1`,
    [schema],
  );
  return {
    at: Date.now(),
    commits: Number(db.rows[0]?.commits ?? 0),
    walSyncs: Number(wal.rows[0]?.syncs ?? 0),
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

/** Commits and WAL flushes per refresh between two snapshots. */
export function perRefresh(before: DbSnapshot, after: DbSnapshot, refreshes: number) {
  return {
    commitsPerRefresh: (after.commits - before.commits) / refreshes,
    walSyncsPerRefresh: (after.walSyncs - before.walSyncs) / refreshes,
  };
}
