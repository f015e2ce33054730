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
  expiring_soon: 'soon',
};

const utc = (at: number, chars: number) =>
  `${new Date(at).toISOString().replace('T', ' ').slice(0, chars)} UTC`;

function describe(entry: HistoryEntry): string {
  const { kind, expiresAt } = entry;
  const what =
    kind === 'refreshed' || kind === 'reconnected'
      ? `${kind}${expiresAt ? `, valid until ${new Date(expiresAt).toISOString().slice(11, 19)}` : ''}`
      : kind === 'expiring_soon'
        ? `expiring soon${expiresAt ? `: the refresh token dies ${utc(expiresAt, 16)}` : ''}`
        : `${kind.replace('_', ' ')}${entry.error ? `: ${entry.error}` : ''}`;
  return `${utc(entry.at, 19)} ${what}`;
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
 * (green), failed attempt (red, shorter), stop that needs a human (dark red) or warning that the refresh token
 * dies soon (amber, shorter); grey slots are empty.
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
    const height = kind === 'fail' || kind === 'soon' ? HEIGHT * 0.6 : HEIGHT;
    bars.push(
      `<rect class="${kind}" x="${(empty + index) * (BAR + GAP)}" y="${HEIGHT - height}" width="${BAR}" height="${height}" rx="1"><title>${escapeHtml(describe(entry))}</title></rect>`,
    );
  });
  const count = (...kinds: string[]) => recent.filter((e) => kinds.includes(barClass[e.kind])).length;
  const ok = count('ok');
  const failed = count('fail', 'stop');
  const warnings = count('soon');
  const label =
    recent.length === 0
      ? 'no refreshes seen yet'
      : `last ${recent.length} events: ${ok} refresh${ok === 1 ? '' : 'es'}, ${failed} failure${failed === 1 ? '' : 's'}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}`;
  return `<svg class="chart" width="${width}" height="${HEIGHT}" viewBox="0 0 ${width} ${HEIGHT}" role="img" aria-label="${escapeHtml(label)}"><title>${escapeHtml(label)}</title>${bars.join('')}</svg>`;
}
