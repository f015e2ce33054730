import { connectAgainCommand } from '../core/links.ts';
import { paint, statusTone } from './colour.ts';
import { formatAgo, formatDuration } from '../core/duration.ts';
import type { CliIo } from './io.ts';
import { describeError, seconds, TokenkeeperError, type ErrorHint } from '../core/errors.ts';

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

/**
 * An error as the CLI prints it: one line, with the engine's structured hint turned into the command to run.
 * Only the CLI names its own commands; the library and the HTTP API word hints themselves.
 */
export function describeCliError(error: unknown): string {
  if (!(error instanceof TokenkeeperError) || !error.hint) return describeError(error);
  return describeError(new Error(`${error.problem}${cliHint(error.hint)}`));
}

function cliHint(hint: ErrorHint): string {
  switch (hint.action) {
    case 'reconnect':
      return `; run \`${connectAgainCommand(hint)}\``;
    case 'retry': {
      const when = `in ${seconds(hint.retryInMs)} s by a running daemon (\`tokenkeeper run\`)`;
      return hint.sameRefreshToken
        ? `; the provider may have rotated the refresh token, so the attempt is kept and retried with the same refresh token ${when}, or by \`tokenkeeper refresh ${hint.connection}\` within the provider's grace window`
        : `; nothing was spent; it will be retried ${when}, or run \`tokenkeeper refresh ${hint.connection}\``;
    }
    case 'refresh_after_store_fix':
      return `; fix the store, then run \`tokenkeeper refresh ${hint.connection}\` at once (the provider may accept the old token again for a short while)`;
    case 'list_connections':
      return ': see `tokenkeeper status` for the names';
  }
}
