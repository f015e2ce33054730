import { paint, statusTone } from './colour.ts';

/** "7h 44m", "12m 5s", "3s", "expired 2m ago". */
export function formatDuration(ms: number): string {
  const negative = ms < 0;
  let seconds = Math.round(Math.abs(ms) / 1000);
  const days = Math.floor(seconds / 86_400);
  seconds -= days * 86_400;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  const parts = days
    ? [`${days}d`, `${hours}h`]
    : hours
      ? [`${hours}h`, `${minutes}m`]
      : minutes
        ? [`${minutes}m`, `${seconds}s`]
        : [`${seconds}s`];
  return negative ? `-${parts.join(' ')}` : parts.join(' ');
}

export function formatAgo(at: number | undefined, now: number): string {
  return at === undefined ? '-' : `${formatDuration(now - at)} ago`;
}

/**
 * A plain text table with padded columns, printed to stdout. A column headed STATUS is coloured by its value when
 * stdout shows colour (see colour.ts); padding is computed on the plain text so columns stay aligned.
 */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const statusColumn = headers.indexOf('STATUS');
  const cellText = (cell: string, column: number, isHeader: boolean) => {
    const tone = column === statusColumn && !isHeader ? statusTone(cell) : undefined;
    const padding = ' '.repeat((widths[column] ?? 0) - cell.length);
    return (tone ? paint(cell, tone, process.stdout) : cell) + padding;
  };
  const line = (cells: string[], isHeader = false) =>
    cells
      .map((cell, column) => cellText(cell, column, isHeader))
      .join('  ')
      .trimEnd();
  return [line(headers, true), ...rows.map((row) => line(row))].join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
