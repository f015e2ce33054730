import type { Connection } from '../../core/types.ts';
import type { Keyring } from '../../crypto/envelope.ts';
import {
  CONNECTION_COLUMNS,
  connectionToColumns,
  UPDATED_COLUMNS,
  type ColumnValue,
} from '../connection-row.ts';

/** The shared connection columns plus `next_refresh_at`, the indexed due time only PostgreSQL keeps. */
export const PG_CONNECTION_COLUMNS = [...CONNECTION_COLUMNS, 'next_refresh_at'] as const;
/** What an update rewrites: the shared codec's updated columns and the due time. */
export const PG_UPDATED_COLUMNS = [...UPDATED_COLUMNS, 'next_refresh_at'] as const;

type PgColumn = (typeof PG_CONNECTION_COLUMNS)[number];

export type ConnectionRow = Record<PgColumn, unknown>;

/** Decides `next_refresh_at`, the indexed due time; undefined keeps a connection out of every scheduler's sight. */
export type RefreshPlanner = (connection: Connection) => number | undefined;

/** Positional values of `columns` for one connection: the shared codec's values, then the due time. */
export function connectionValues(
  c: Connection,
  keyring: Keyring,
  plan: RefreshPlanner,
  columns: readonly PgColumn[],
): ColumnValue[] {
  const values: Record<PgColumn, ColumnValue> = {
    ...connectionToColumns(c, keyring),
    next_refresh_at: finite(plan(c)),
  };
  return columns.map((column) => values[column]);
}

function finite(value: number | undefined): number | null {
  return value === undefined || !Number.isFinite(value) ? null : Math.round(value);
}
