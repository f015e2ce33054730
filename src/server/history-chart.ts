import type { ConnectionSummary } from '../keeper/keeper.ts';
import type { HistoryEntry, HistoryKind } from './history.ts';
import { escapeHtml } from './html.ts';
import { needsHuman } from '../core/types.ts';

const SLOTS = 30;
const BAR = 5;
const GAP = 1;
const HEIGHT = 22;

const barClass: Record<HistoryKind, string> = {
  refreshed: 'ok',
  reconnected: 'ok',
  failed: 'fail',
  needs_reauth: 'stop',
  provider_retired: 'stop',
};

function describe(entry: HistoryEntry): string {
  const at = new Date(entry.at).toISOString().replace('T', ' ').slice(0, 19);
  const what =
    entry.kind === 'refreshed' || entry.kind === 'reconnected'
      ? `${entry.kind}${entry.expiresAt ? `, valid until ${new Date(entry.expiresAt).toISOString().slice(11, 19)}` : ''}`
      : `${entry.kind.replace('_', ' ')}${entry.error ? `: ${entry.error}` : ''}`;
  return `${at} UTC ${what}`;
}

/**
 * The history as the strip shows it: when the connection's current state is a failure the daemon did not see
 * (a CLI refresh, or a store read at start), that state is added as the newest bar, so a row that needs a human
 * never ends in green.
 */
export function historyWithCurrentState(
  entries: readonly HistoryEntry[],
  connection: Pick<ConnectionSummary, 'status' | 'lastError' | 'lastErrorAt'>,
): readonly HistoryEntry[] {
  const { status } = connection;
  const current: HistoryKind | undefined = needsHuman(status)
    ? status
    : status === 'failing'
      ? 'failed'
      : undefined;
  const last = entries.at(-1);
  if (current === undefined || (last && barClass[last.kind] === barClass[current])) return entries;
  const at = Math.max(connection.lastErrorAt ?? 0, last?.at ?? 0);
  return [...entries, { at, kind: current, error: connection.lastError }];
}

/**
 * A small inline SVG strip of a connection's last refresh outcomes, newest on the right: one bar per refresh
 * (green), failed attempt (red, shorter) or stop that needs a human (dark red); grey slots are empty.
 */
export function renderHistoryChart(
  entries: readonly HistoryEntry[],
  connection: Pick<ConnectionSummary, 'status' | 'lastError' | 'lastErrorAt'>,
): string {
  const recent = historyWithCurrentState(entries, connection).slice(-SLOTS);
  const width = SLOTS * (BAR + GAP) - GAP;
  const empty = SLOTS - recent.length;
  const bars: string[] = [];
  for (let slot = 0; slot < empty; slot++) {
    bars.push(`<rect class="slot" x="${slot * (BAR + GAP)}" y="${HEIGHT - 4}" width="${BAR}" height="4"/>`);
  }
  recent.forEach((entry, index) => {
    const kind = barClass[entry.kind];
    const height = kind === 'fail' ? HEIGHT * 0.6 : HEIGHT;
    bars.push(
      `<rect class="${kind}" x="${(empty + index) * (BAR + GAP)}" y="${HEIGHT - height}" width="${BAR}" height="${height}" rx="1"><title>${escapeHtml(describe(entry))}</title></rect>`,
    );
  });
  const ok = recent.filter((e) => barClass[e.kind] === 'ok').length;
  const failed = recent.length - ok;
  const label =
    recent.length === 0
      ? 'no refreshes seen yet'
      : `last ${recent.length} events: ${ok} refresh${ok === 1 ? '' : 'es'}, ${failed} failure${failed === 1 ? '' : 's'}`;
  return `<svg class="chart" width="${width}" height="${HEIGHT}" viewBox="0 0 ${width} ${HEIGHT}" role="img" aria-label="${escapeHtml(label)}"><title>${escapeHtml(label)}</title>${bars.join('')}</svg>`;
}
