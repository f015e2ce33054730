import { paint, statusTone } from './colour.ts';
import { formatAgo, formatDuration } from '../core/duration.ts';
import type { CliIo } from './io.ts';

export { formatAgo, formatDuration };

/**
 * A plain text table with padded columns, for io.stdout. A column headed STATUS is coloured by its value when
 * stdout shows colour (see colour.ts); padding is computed on the plain text so columns stay aligned.
 */
export function table(headers: string[], rows: string[][], io: Pick<CliIo, 'stdout' | 'env'>): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const statusColumn = headers.indexOf('STATUS');
  const cellText = (cell: string, column: number, isHeader: boolean) => {
    const tone = column === statusColumn && !isHeader ? statusTone(cell) : undefined;
    const padding = ' '.repeat((widths[column] ?? 0) - cell.length);
    return (tone ? paint(cell, tone, io.stdout, io.env) : cell) + padding;
  };
  const line = (cells: string[], isHeader = false) =>
    cells
      .map((cell, column) => cellText(cell, column, isHeader))
      .join('  ')
      .trimEnd();
  return [line(headers, true), ...rows.map((row) => line(row))].join('\n');
}

export function printJson(io: Pick<CliIo, 'stdout'>, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
