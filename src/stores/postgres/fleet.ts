import type pg from 'pg';
import type { Claim, ClaimRequest, FleetMember, ProviderRateLimit } from '../store.ts';
import { processAlive } from '../process-identity.ts';

/** The database clock in epoch milliseconds: leases and locks use it, so machines with skewed clocks agree. */
export const dbNow = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/**
 * Hand-backs wait for the next claim, which writes them in its own statement, or this long at most: the scheduler
 * has already moved on to the next refresh, and a released row is not due anyway, so waiting costs nothing but
 * turns a commit per refresh into one per batch.
 */
const RELEASE_BATCH_MS = 200;

/** Worker rows dead for this long are deleted (their claims were free long before). */
const FORGET_DEAD_AFTER_MS = 24 * 3_600_000;

export interface FleetMemberOptions {
  pool: pg.Pool;
  /** Qualified table names. */
  connections: string;
  workers: string;
  owner: string;
  host: string;
  ttlMs: number;
  guard: <T>(what: string, work: () => Promise<T>) => Promise<T>;
  onLeave: () => void;
}

/**
 * One `tokenkeeper run` process in a fleet sharing a PostgreSQL store. Its row in `workers` is its lease: it
 * heartbeats every third of the TTL, and a connection whose `claim_owner` is not a live worker is free. A worker
 * that dies (SIGKILL, crash, lost machine) stops heartbeating, so its claims go back to the others after the TTL
 * — at once when a peer on the same host sees that its pid is gone. Claiming uses `FOR UPDATE SKIP LOCKED`, so
 * concurrent claimers never wait for each other nor take the same row; the refresh itself still runs under the
 * connection's store lock, so even a worker that lost its lease (paused, partitioned) cannot refresh twice.
 */
export class PostgresFleetMember implements FleetMember {
  readonly owner: string;
  readonly recheckMs: number;
  private readonly options: FleetMemberOptions;
  private heartbeat: NodeJS.Timeout | undefined;
  private left = false;
  /** Hand-backs not written yet: the next claim takes them along, or the batch timer writes them. */
  private releases: PendingRelease[] = [];
  private releasing: Promise<void> | undefined;

  private constructor(options: FleetMemberOptions) {
    this.options = options;
    this.owner = options.owner;
    this.recheckMs = Math.max(100, Math.floor(options.ttlMs / 2));
  }

  static async join(options: FleetMemberOptions): Promise<PostgresFleetMember> {
    const member = new PostgresFleetMember(options);
    await member.beat();
    member.heartbeat = setInterval(
      () => void member.beat().catch(() => undefined),
      Math.max(50, Math.floor(options.ttlMs / 3)),
    );
    member.heartbeat.unref();
    return member;
  }

  /** Extends this worker's lease (re-joining if it was declared dead) and retires dead peers on this host. */
  private async beat(): Promise<void> {
    const { pool, workers, owner, host, ttlMs } = this.options;
    await pool.query({
      name: 'tk-fleet-beat',
      text: `INSERT INTO ${workers} (owner, host, pid, started_at, expires_at)
             VALUES ($1, $2, $3, ${dbNow}, ${dbNow} + $4)
             ON CONFLICT (owner) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
      values: [owner, host, process.pid, ttlMs],
    });
    const peers = await pool.query<{ owner: string; pid: number }>({
      name: 'tk-fleet-peers',
      text: `SELECT owner, pid FROM ${workers} WHERE host = $1 AND owner <> $2 AND expires_at > ${dbNow}`,
      values: [host, owner],
    });
    const dead = peers.rows.filter((peer) => !processAlive(peer.pid)).map((peer) => peer.owner);
    if (dead.length > 0) {
      await pool.query(`UPDATE ${workers} SET expires_at = 0 WHERE owner = ANY($1) AND host = $2`, [
        dead,
        host,
      ]);
    }
    await pool.query({
      name: 'tk-fleet-forget',
      text: `DELETE FROM ${workers} WHERE expires_at < ${dbNow} - $1`,
      values: [FORGET_DEAD_AFTER_MS],
    });
  }

  /**
   * In one statement: picks the most overdue unclaimed connections (index on next_refresh_at), skipping rows
   * another claimer is locking; claims those within their provider's rate-limit window (charging the window up
   * front) and postpones the others to the end of their window.
   */
  async claimDue(request: ClaimRequest): Promise<{ claimed: Claim[]; postponed: number }> {
    const { pool, connections, workers, owner, guard } = this.options;
    const windows = rateWindows(request.rateLimits, request.now);
    // Hand-backs waiting for a batch ride along with the claim: one statement, one commit.
    const releases = this.releases.splice(0);
    const claiming = guard('claiming due connections', async () => {
      const result = await pool.query<{
        name: string;
        claim_fence: string;
        within_budget: boolean;
        next_refresh_at: string;
      }>({
        name: releases.length > 0 ? 'tk-fleet-release-claim' : 'tk-fleet-claim',
        text:
          releases.length > 0
            ? releaseAndClaimStatement(connections, workers)
            : claimStatement(connections, workers),
        values: [
          Math.floor(request.now),
          request.limit,
          windows.map((w) => w.provider),
          windows.map((w) => w.start),
          windows.map((w) => w.end),
          windows.map((w) => w.requests),
          request.requestsPerClaim,
          owner,
          ...(releases.length > 0 ? releaseValues(releases) : []),
        ],
      });
      const claimed: Claim[] = [];
      let postponed = 0;
      // RETURNING has no order: most overdue first, as selected.
      result.rows.sort((x, y) => Number(x.next_refresh_at) - Number(y.next_refresh_at));
      for (const row of result.rows) {
        if (row.within_budget) claimed.push({ name: row.name, fence: Number(row.claim_fence) });
        else postponed++;
      }
      return { claimed, postponed };
    });
    settle(releases, claiming);
    return claiming;
  }

  /**
   * Hands a claim back. Releases are written together, by the next claim's statement or after RELEASE_BATCH_MS
   * at most, so a busy worker commits once per batch instead of once per refresh; each call still resolves only
   * once its own release is committed (or rejects with its batch).
   */
  release(claim: Claim, options: { notBefore?: number } = {}): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.releases.push({
        name: claim.name,
        fence: claim.fence,
        notBefore: options.notBefore === undefined ? null : Math.ceil(options.notBefore),
        resolve,
        reject,
      });
      this.releasing ??= new Promise<void>((wait) => setTimeout(wait, RELEASE_BATCH_MS)).then(() =>
        this.flushReleases(),
      );
    });
  }

  private async flushReleases(): Promise<void> {
    try {
      while (this.releases.length > 0)
        await this.writeReleases(this.releases.splice(0)).catch(() => undefined);
    } finally {
      this.releasing = undefined;
    }
  }

  /** Writes a batch of hand-backs in one statement; each of their promises settles with it. */
  private writeReleases(batch: PendingRelease[]): Promise<void> {
    const { pool, connections, owner, guard } = this.options;
    const written = guard('releasing claims', async () => {
      await pool.query({
        name: 'tk-fleet-release',
        text: releaseStatement(connections, { owner: '$1', names: '$2', fences: '$3', notBefore: '$4' }),
        values: [owner, ...releaseValues(batch)],
      });
    });
    settle(batch, written);
    return written;
  }

  async nextDueAt(): Promise<number | undefined> {
    const { pool, connections, guard } = this.options;
    return guard('reading the next due time', async () => {
      const result = await pool.query<{ next: string | null }>({
        name: 'tk-fleet-next',
        text: `SELECT next_refresh_at AS next FROM ${connections}
               WHERE next_refresh_at IS NOT NULL AND claim_owner IS NULL
               ORDER BY next_refresh_at LIMIT 1`,
      });
      const next = result.rows[0]?.next;
      return next === null || next === undefined ? undefined : Number(next);
    });
  }

  async leave(): Promise<void> {
    if (this.left) return;
    this.left = true;
    clearInterval(this.heartbeat);
    const { pool, connections, workers, owner, guard, onLeave } = this.options;
    onLeave();
    // Before freeing the rest: a hand-back may carry a later due time.
    if (this.releases.length > 0) await this.writeReleases(this.releases.splice(0));
    await guard('leaving the fleet', async () => {
      await pool.query(`UPDATE ${connections} SET claim_owner = NULL WHERE claim_owner = $1`, [owner]);
      await pool.query(`DELETE FROM ${workers} WHERE owner = $1`, [owner]);
    });
  }
}

/** Resolves or rejects each release with the statement that wrote it. */
function settle(releases: readonly PendingRelease[], written: Promise<unknown>): void {
  written.then(
    () => releases.forEach((release) => release.resolve()),
    (error: unknown) => releases.forEach((release) => release.reject(error)),
  );
}

function releaseValues(releases: readonly PendingRelease[]): unknown[] {
  return [
    releases.map((release) => release.name),
    releases.map((release) => release.fence),
    releases.map((release) => release.notBefore),
  ];
}

/**
 * Hands claims back (given the placeholders of the owner and of the name, fence and not-before arrays): frees each
 * row still held under that fence and pushes its due time to at least its not-before, unless it is unscheduled.
 */
function releaseStatement(
  connections: string,
  at: { owner: string; names: string; fences: string; notBefore: string },
): string {
  return `UPDATE ${connections} c SET claim_owner = NULL,
         next_refresh_at = CASE WHEN r.not_before IS NULL OR c.next_refresh_at IS NULL THEN c.next_refresh_at
                                ELSE GREATEST(c.next_refresh_at, r.not_before) END
       FROM unnest(${at.names}::text[], ${at.fences}::bigint[], ${at.notBefore}::bigint[]) AS r(name, fence, not_before)
       WHERE c.name = r.name AND c.claim_owner = ${at.owner} AND c.claim_fence = r.fence`;
}

/**
 * The claim with pending hand-backs written by the same statement ($9–$11: their names, fences and not-befores).
 * The rows released are held by this worker, which the claim never takes from itself (even when its lease lapsed),
 * so the two parts touch different rows: one statement updating a row twice would skip one of the two writes.
 */
function releaseAndClaimStatement(connections: string, workers: string): string {
  const claim = claimStatement(connections, workers);
  const released = releaseStatement(connections, {
    owner: '$8',
    names: '$9',
    fences: '$10',
    notBefore: '$11',
  });
  return `WITH released AS (${released}),\n       ${claim.replace(/^WITH /, '')}`;
}

interface PendingRelease {
  name: string;
  fence: number;
  notBefore: number | null;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface RateWindow {
  provider: string;
  start: number;
  end: number;
  requests: number;
}

/** Fixed windows aligned to the epoch (an hourly limit counts per clock hour, as Fitbit does). */
function rateWindows(limits: readonly ProviderRateLimit[], now: number): RateWindow[] {
  return limits.map((limit) => {
    const start = Math.floor(now / limit.windowMs) * limit.windowMs;
    return { provider: limit.provider, start, end: start + limit.windowMs, requests: limit.requests };
  });
}

/**
 * The claim (exported for the test that checks its plan): parameters are $1 now (keeper clock), $2 limit,
 * $3–$6 the rate windows (provider, start, end, max requests), $7 requests per claim, $8 owner. A row this owner
 * holds is never claimed again, even when its lease lapsed: it is refreshing or queued here, and a second claim
 * would start it twice.
 */
export function claimStatement(connections: string, workers: string): string {
  return `WITH limits AS (
         SELECT * FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::integer[])
           AS l(provider, window_start, window_end, max_requests)
       ),
       candidates AS (
         SELECT c.name, l.window_start, l.window_end, l.max_requests,
           (l.provider IS NULL
             OR (CASE WHEN c.rate_window_start = l.window_start THEN c.rate_window_count ELSE 0 END)
                + LEAST($7, l.max_requests) <= l.max_requests) AS within_budget,
           LEAST($7, l.max_requests) AS charge
         FROM ${connections} c LEFT JOIN limits l ON l.provider = c.provider
         WHERE c.next_refresh_at <= $1
           AND (c.claim_owner IS NULL
             OR (c.claim_owner <> $8
               AND c.claim_owner NOT IN (SELECT w.owner FROM ${workers} w WHERE w.expires_at > ${dbNow})))
         ORDER BY c.next_refresh_at
         LIMIT $2
         FOR UPDATE OF c SKIP LOCKED
       )
       UPDATE ${connections} c SET
         claim_owner = CASE WHEN k.within_budget THEN $8 END,
         claim_fence = c.claim_fence + CASE WHEN k.within_budget THEN 1 ELSE 0 END,
         rate_window_count = CASE
           WHEN NOT k.within_budget OR k.window_start IS NULL THEN c.rate_window_count
           WHEN c.rate_window_start = k.window_start THEN c.rate_window_count + k.charge
           ELSE k.charge END,
         rate_window_start = CASE
           WHEN k.within_budget AND k.window_start IS NOT NULL THEN k.window_start
           ELSE c.rate_window_start END,
         next_refresh_at = CASE WHEN k.within_budget THEN c.next_refresh_at ELSE k.window_end END
       FROM candidates k WHERE c.name = k.name
       RETURNING c.name, c.claim_fence, k.within_budget, c.next_refresh_at`;
}
