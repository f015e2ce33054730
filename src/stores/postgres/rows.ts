import type { Connection } from '../../core/types.ts';
import type { Keyring } from '../../crypto/envelope.ts';
import { CONNECTION_COLUMNS, connectionToColumns, type ColumnValue } from '../connection-row.ts';

/** The shared connection columns plus `next_refresh_at`, in the order `connectionValues` produces them. */
export const PG_CONNECTION_COLUMNS = [...CONNECTION_COLUMNS, 'next_refresh_at'] as const;

export type ConnectionRow = Record<(typeof PG_CONNECTION_COLUMNS)[number], unknown>;

/** Decides `next_refresh_at`, the indexed due time; undefined keeps a connection out of every scheduler's sight. */
export type RefreshPlanner = (connection: Connection) => number | undefined;

/** Positional values for PG_CONNECTION_COLUMNS: the shared codec's columns, then the indexed due time. */
export function connectionValues(c: Connection, keyring: Keyring, plan: RefreshPlanner): ColumnValue[] {
  const columns = connectionToColumns(c, keyring);
  return [...CONNECTION_COLUMNS.map((column) => columns[column]), finite(plan(c))];
}

function finite(value: number | undefined): number | null {
  return value === undefined || !Number.isFinite(value) ? null : Math.round(value);
}
