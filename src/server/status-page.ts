import { formatAgo, formatDuration } from '../core/duration.ts';
import { reconnectPath, replaceCommand, rotateSecretAdvice } from '../core/links.ts';
import type { ConnectionSummary } from '../keeper/keeper.ts';
import { renderHistoryChart } from './history-chart.ts';
import type { RefreshHistory } from './history.ts';
import { escapeHtml } from './html.ts';
import { needsHuman } from '../core/types.ts';

export interface StatusPageInput {
  connections: ConnectionSummary[];
  history: RefreshHistory;
  now: number;
  /** CSP nonce for the inline style and script. */
  nonce: string;
  version: string;
  /** Set when the store could not be read. */
  storeError?: string;
  /** Set for a logged-in operator: the page then offers its actions, each form carrying this CSRF token. */
  operator?: { csrfToken: string; reconnecting?: string };
}

/** `soon`: nothing is wrong yet, but a human must act before the refresh token dies. */
type Health = { label: string; tone: 'ok' | 'busy' | 'soon' | 'warn' | 'bad' };

function healthOf(c: ConnectionSummary, now: number): Health {
  switch (c.status) {
    case 'needs_reauth':
      return { label: 'needs reauth', tone: 'bad' };
    case 'provider_retired':
      return { label: 'provider retired', tone: 'bad' };
    case 'failing':
      return { label: `failing (${c.failureCount})`, tone: 'warn' };
    case 'refreshing':
      return { label: 'refreshing', tone: 'busy' };
    default:
      if (c.expiringSoon) return { label: 'expiring soon', tone: 'soon' };
      if (c.expiresAt !== undefined && c.expiresAt <= now) return { label: 'expired', tone: 'warn' };
      return { label: 'healthy', tone: 'ok' };
  }
}

const needsAPerson = (c: ConnectionSummary) => needsHuman(c.status);

/**
 * Connections that need a human first, then failing ones, then those whose refresh token dies soon, then the
 * rest; by name within each group.
 */
export function attentionOrder(connections: readonly ConnectionSummary[]): ConnectionSummary[] {
  const rank = (c: ConnectionSummary) =>
    needsAPerson(c) ? 0 : c.status === 'failing' ? 1 : c.expiringSoon ? 2 : 3;
  return [...connections].sort(
    (a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

/** Errors longer than this end in "…"; the full text is one click away (a <details>, no script). */
const ERROR_PREVIEW_CHARS = 120;

function lastErrorCell(c: ConnectionSummary, now: number): string {
  if (!c.lastError) return '<span class="muted">none</span>';
  const when =
    c.lastErrorAt === undefined
      ? ''
      : ` <time class="ago muted" data-at="${c.lastErrorAt}">${formatAgo(c.lastErrorAt, now)}</time>`;
  if (c.lastError.length <= ERROR_PREVIEW_CHARS) {
    return `<span class="error">${escapeHtml(c.lastError)}</span>${when}`;
  }
  const preview = `${c.lastError.slice(0, ERROR_PREVIEW_CHARS).trimEnd()}…`;
  return `<details class="error-details"><summary class="error" title="${escapeHtml(c.lastError)}"><span class="preview">${escapeHtml(preview)}</span><span class="less muted">hide the full error</span></summary><p class="error full-error">${escapeHtml(c.lastError)}</p></details>${when}`;
}

/**
 * Under the access token's countdown, when the refresh token dies by time: a badge while it is what is expiring
 * soon, plain text otherwise. Nothing for refresh tokens without a known expiry (most providers').
 */
function refreshTokenNote(c: ConnectionSummary, now: number): string {
  const at = c.refreshTokenExpiresAt;
  if (at === undefined) return '';
  const title = `title="${new Date(at).toISOString()}"`;
  const when =
    at <= now
      ? `<span class="badge bad" ${title}>expired</span>`
      : c.expiring?.what === 'refresh_token'
        ? `<span class="badge soon" ${title}>expires in ${formatDuration(at - now)}</span>`
        : `<span ${title}>expires in ${formatDuration(at - now)}</span>`;
  return `<div class="rt-expiry">refresh token ${when}</div>`;
}

/** When the provider's client secret is what is expiring soon: when, and what to do about it. */
function clientSecretNote(c: ConnectionSummary, now: number): string {
  if (c.expiring?.what !== 'client_secret') return '';
  const { at } = c.expiring;
  const title = `title="${new Date(at).toISOString()}"`;
  const when =
    at <= now
      ? `<span class="badge bad" ${title}>expired</span>`
      : `<span class="badge soon" ${title}>expires in ${formatDuration(at - now)}</span>`;
  return `<div class="secret-expiry">client secret ${when}: ${escapeHtml(rotateSecretAdvice(c.provider))}</div>`;
}

/** For a retired provider: what replaced it, and the command that moves the connection there. */
function successorNote(c: ConnectionSummary): string {
  if (c.status !== 'provider_retired' || c.successor === undefined) return '';
  return `<div class="successor">replaced by ${escapeHtml(c.successor)}: <code>${escapeHtml(replaceCommand(c.successor, c.name))}</code></div>`;
}

function row(c: ConnectionSummary, input: StatusPageInput): string {
  const { now } = input;
  const health = healthOf(c, now);
  const expires =
    c.expiresAt === undefined
      ? '<span class="muted">unknown</span>'
      : `<span class="countdown" data-expires-at="${c.expiresAt}" title="${new Date(c.expiresAt).toISOString()}">${
          c.expiresAt > now ? formatDuration(c.expiresAt - now) : 'expired'
        }</span>`;
  const lastRefresh =
    c.lastRefreshAt === undefined
      ? '<span class="muted">never</span>'
      : `<time class="ago" data-at="${c.lastRefreshAt}" datetime="${new Date(c.lastRefreshAt).toISOString()}">${formatAgo(
          c.lastRefreshAt,
          now,
        )}</time>`;
  // data-label names each cell when a narrow screen shows the row as a card.
  return `<tr data-connection="${escapeHtml(c.name)}" data-status="${escapeHtml(c.status)}">
  <td class="name" data-label="Connection">${escapeHtml(c.name)}</td>
  <td data-label="Provider">${escapeHtml(c.provider)}</td>
  <td class="account" data-label="Account">${c.account ? escapeHtml(c.account) : '<span class="muted">-</span>'}</td>
  <td class="health" data-label="Health"><span class="badge ${health.tone}">${escapeHtml(health.label)}</span>${successorNote(c)}</td>
  <td data-label="Expires in">${expires}${refreshTokenNote(c, now)}${clientSecretNote(c, now)}</td>
  <td data-label="Last refresh">${lastRefresh}</td>
  <td class="last-error" data-label="Last error">${lastErrorCell(c, now)}</td>
  <td class="history" data-label="History">${renderHistoryChart(input.history.entries(c.name), c)}</td>
  <td class="action">${reconnectControl(c, input)}</td>
</tr>`;
}

/** A POST form carrying the session's CSRF token: the only way to start a page action. */
export function actionForm(path: string, csrfToken: string, label: string, className: string): string {
  return `<form method="post" action="${escapeHtml(path)}" class="action"><input type="hidden" name="csrf" value="${escapeHtml(csrfToken)}"><button type="submit" class="${className}">${escapeHtml(label)}</button></form>`;
}

/** Reconnect (or cancel the reconnect under way) for an operator; a pointer to the login for anyone else. */
function reconnectControl(c: ConnectionSummary, input: StatusPageInput): string {
  const { operator } = input;
  const human = needsAPerson(c);
  if (!operator) {
    return `<a class="reconnect login${human ? ' urgent' : ''}" href="/login" title="Log in as operator to reconnect">Reconnect…</a>`;
  }
  const base = reconnectPath(c.name);
  if (operator.reconnecting === c.name) {
    return actionForm(`${base}/cancel`, operator.csrfToken, 'Cancel reconnect', 'reconnect cancel');
  }
  return actionForm(base, operator.csrfToken, 'Reconnect', `reconnect${human ? ' urgent' : ''}`);
}

function summaryLine(connections: ConnectionSummary[], now: number): string {
  const tones = connections.map((c) => healthOf(c, now).tone);
  const attention = tones.filter((tone) => tone === 'bad').length;
  const degraded = tones.filter((tone) => tone === 'warn').length;
  const expiring = tones.filter((tone) => tone === 'soon').length;
  const parts = [`${connections.length} connection${connections.length === 1 ? '' : 's'}`];
  parts.push(`${tones.filter((tone) => tone === 'ok' || tone === 'busy').length} healthy`);
  if (degraded) parts.push(`${degraded} degraded`);
  if (expiring) parts.push(`${expiring} expiring soon`);
  if (attention) parts.push(`${attention} need${attention === 1 ? 's' : ''} a human`);
  return parts.join(' · ');
}

const style = `
:root{color-scheme:light;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--busy:#0969da;--muted:#6e7781;--line:#d0d7de}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f8fa;color:#1f2328}
header{background:#fff;border-bottom:1px solid var(--line);padding:14px 24px;display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px}
header h1{font-size:18px;margin:0}
header .summary{color:var(--muted)}
main{padding:20px 24px}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid var(--line);border-radius:6px}
th,td{text-align:left;padding:9px 10px;border-bottom:1px solid var(--line);vertical-align:middle}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600;background:#f6f8fa;white-space:nowrap}
tr:last-child td{border-bottom:none}
td.name{font-weight:600}
td.name,td.account{overflow-wrap:anywhere;max-width:220px}
.muted{color:var(--muted)}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;border:1px solid currentColor;white-space:nowrap}
.badge.ok{color:var(--ok)}.badge.warn,.badge.soon{color:var(--warn)}.badge.bad{color:var(--bad)}.badge.busy{color:var(--busy)}
.badge.soon{background:#fff8c5}
.rt-expiry{margin-top:4px;font-size:12px;color:var(--muted);white-space:nowrap}
.secret-expiry{margin-top:4px;font-size:12px;color:var(--muted)}
.successor{margin-top:4px;font-size:12px;color:var(--muted)}
.successor code{color:#1f2328;overflow-wrap:anywhere}
.countdown{font-variant-numeric:tabular-nums;white-space:nowrap}
.countdown.expired{color:var(--bad);font-weight:600}
.error{color:var(--bad)}
td.last-error{max-width:300px;overflow-wrap:anywhere}
.error-details summary{cursor:pointer;list-style:none}
.error-details summary::-webkit-details-marker{display:none}
.error-details .less,.error-details[open] .preview{display:none}
.error-details[open] .less{display:inline}
.error-details p{margin:0}
.chart{display:block;max-width:100%;height:auto}
.chart .slot{fill:#d0d7de}.chart .ok{fill:#2da44e}.chart .fail{fill:#fa4549}.chart .stop{fill:#82071e}.chart .soon{fill:#d4a72c}
form.action{margin:0;display:inline}
.reconnect{color:var(--busy);text-decoration:none;white-space:nowrap;font:inherit;background:none;border:1px solid var(--line);border-radius:6px;padding:3px 10px;cursor:pointer}
.reconnect.urgent{background:var(--bad);border-color:var(--bad);color:#fff;font-weight:600}
header .operator{margin-left:auto;color:var(--muted)}
.banner{background:#ffebe9;border:1px solid var(--bad);color:var(--bad);padding:10px 14px;border-radius:6px;margin-bottom:14px;overflow-wrap:anywhere}
.empty{background:#fff;border:1px dashed var(--line);padding:24px;border-radius:6px}
footer{padding:0 24px 24px;color:var(--muted);font-size:12px}
footer a{color:inherit}
@media (max-width:760px){
  main{padding:12px}
  header{padding:12px}
  footer{padding:0 12px 16px}
  table,tbody,tr,td{display:block;width:100%;max-width:none}
  table{border:none;background:none}
  thead{display:none}
  tr{background:#fff;border:1px solid var(--line);border-radius:6px;margin-bottom:12px;padding:6px 12px}
  td{border-bottom:none;padding:4px 0 4px 112px;position:relative;min-height:26px}
  td::before{content:attr(data-label);position:absolute;left:0;top:6px;width:104px;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
  td.name{font-size:16px;padding:6px 0 4px}
  td.name::before,td.action::before{content:none}
  td.action{padding:8px 0 6px}
  td.name,td.account,td.last-error{max-width:none}
}
`;

/** Runs in the browser: live countdowns and relative times every second, fresh data every 10 seconds. */
const script = `
(() => {
  const fmt = (ms) => {
    let s = Math.max(0, Math.floor(ms / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const p = (n) => String(n).padStart(2, '0');
    return d ? d + 'd ' + h + 'h ' + p(m) + 'm' : h ? h + 'h ' + p(m) + 'm ' + p(s) + 's' : m ? m + 'm ' + p(s) + 's' : s + 's';
  };
  const tick = () => {
    const now = Date.now();
    for (const el of document.querySelectorAll('.countdown')) {
      const left = Number(el.dataset.expiresAt) - now;
      el.textContent = left > 0 ? fmt(left) : 'expired ' + fmt(-left) + ' ago';
      el.classList.toggle('expired', left <= 0);
    }
    for (const el of document.querySelectorAll('time.ago')) el.textContent = fmt(now - Number(el.dataset.at)) + ' ago';
  };
  const reload = async () => {
    try {
      const response = await fetch(location.pathname, { headers: { accept: 'text/html' }, cache: 'no-store' });
      if (!response.ok) return;
      const next = new DOMParser().parseFromString(await response.text(), 'text/html');
      // Keep the errors the reader has opened open across the refresh.
      for (const open of document.querySelectorAll('tr[data-connection] details[open]')) {
        const name = open.closest('tr').dataset.connection;
        for (const fresh of next.querySelectorAll('tr[data-connection] details')) {
          if (fresh.closest('tr').dataset.connection === name) fresh.open = true;
        }
      }
      for (const id of ['content', 'summary']) {
        const fresh = next.getElementById(id);
        const current = document.getElementById(id);
        if (fresh && current) current.replaceWith(fresh);
      }
      tick();
    } catch {}
  };
  tick();
  setInterval(tick, 1000);
  setInterval(reload, 10000);
})();
`;

/** The status page: server-rendered HTML with a tiny inline script; no secrets, every value escaped. */
/** A key in a circle, so browsers stop asking for /favicon.ico. */
export const faviconSvg =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="#0969da"/><circle cx="12" cy="16" r="5" fill="none" stroke="#fff" stroke-width="3"/><path d="M17 16h9m-3 0v4" stroke="#fff" stroke-width="3" fill="none"/></svg>';

function operatorBar(input: StatusPageInput): string {
  return input.operator
    ? `<span class="operator">operator ${actionForm('/logout', input.operator.csrfToken, 'Log out', 'reconnect')}</span>`
    : `<span class="operator"><a href="/login">Log in</a></span>`;
}

export function renderStatusPage(input: StatusPageInput): string {
  const { connections, now, nonce } = input;
  const banner = input.storeError
    ? `<div class="banner">Cannot read the store: ${escapeHtml(input.storeError)}</div>`
    : '';
  const body =
    connections.length === 0
      ? `<div class="empty">No connections yet. Add one with <code>tokenkeeper connect &lt;provider&gt;</code> or <code>tokenkeeper add</code>.</div>`
      : `<table>
<thead><tr><th>Connection</th><th>Provider</th><th>Account</th><th>Health</th><th>Expires in</th><th>Last refresh</th><th>Last error</th><th>Refresh history</th><th></th></tr></thead>
<tbody>
${attentionOrder(connections)
  .map((c) => row(c, input))
  .join('\n')}
</tbody>
</table>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tokenkeeper status</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<style nonce="${nonce}">${style}</style>
</head>
<body>
<header><h1>tokenkeeper</h1><span class="summary" id="summary">${escapeHtml(summaryLine(connections, now))}</span>${operatorBar(input)}</header>
<main id="content" data-rendered-at="${now}">
${banner}${body}
</main>
<footer>tokenkeeper ${escapeHtml(input.version)} · <a href="/openapi.json">API (OpenAPI)</a> · <a href="/metrics">metrics</a> · updates every 10 s</footer>
<script nonce="${nonce}">${script}</script>
</body>
</html>
`;
}
