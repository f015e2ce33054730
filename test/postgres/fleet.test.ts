import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { claimStatement } from '../../src/stores/postgres/fleet.ts';
import { localIdentity } from '../../src/stores/process-identity.ts';
import type { ClaimRequest, ConnectionStore, FleetMember } from '../../src/stores/store.ts';
import { due, newConnection, usePostgres } from './setup.ts';
import { waitUntil } from './worker-processes.ts';

const pgFixture = usePostgres();
const HOUR = 3_600_000;

function schemaOf(url: string): string {
  return new URL(url).searchParams.get('schema') as string;
}

function request(limit: number, overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return { now: Date.now(), limit, rateLimits: [], requestsPerClaim: 1, ...overrides };
}

async function seedDue(url: string, count: number, provider = 'fitbit') {
  const store = await pgFixture.openStore(url);
  await store.insertMany(
    Array.from({ length: count }, (_, i) =>
      due(newConnection(`c${String(i).padStart(4, '0')}`, { provider })),
    ),
  );
  return store;
}

async function claimedBy(url: string): Promise<Record<string, string | null>> {
  const rows = await pgFixture.sql<{ name: string; claim_owner: string | null }>(
    `SELECT name, claim_owner FROM ${schemaOf(url)}.connections ORDER BY name`,
  );
  return Object.fromEntries(rows.map((row) => [row.name, row.claim_owner]));
}

describe('fleet claims on PostgreSQL', () => {
  it('hand each due connection to exactly one of many concurrent claimers', async () => {
    const url = pgFixture.storeUrl();
    const store = await seedDue(url, 300);
    const members: FleetMember[] = await Promise.all(
      [1, 2, 3, 4].map(async (i) => (await pgFixture.openStore(url)).joinFleet(`worker-${i}`)),
    );
    // Each asks for 100 at the same moment, twice over: 800 asked for, 300 exist.
    const rounds = await Promise.all(
      [...members, ...members].map((member) => member.claimDue(request(100)).then((r) => r.claimed)),
    );
    const names = rounds.flat().map((claim) => claim.name);
    expect(names).toHaveLength(300);
    expect(new Set(names).size).toBe(300);
    const owners = await claimedBy(url);
    expect(Object.values(owners).every((owner) => owner?.startsWith('worker-'))).toBe(true);
    // Nothing is left to claim while the claimers live.
    expect((await members[0]!.claimDue(request(100))).claimed).toEqual([]);
    await store.close();
  });

  it('claim only what is due, most overdue first, and report the next due time', async () => {
    const url = pgFixture.storeUrl();
    const store = await pgFixture.openStore(url);
    const now = Date.now();
    await store.insertMany([
      due(newConnection('late')),
      { ...newConnection('later'), tokens: { ...newConnection('x').tokens, expiresAt: now - 3_600_000 } },
      newConnection('fresh'),
    ]);
    const member = await store.joinFleet('worker-1');
    const { claimed } = await member.claimDue(request(10));
    expect(claimed.map((claim) => claim.name)).toEqual(['later', 'late']);
    const next = await member.nextDueAt();
    const fresh = await store.get('fresh');
    expect(next).toBeGreaterThan(now);
    expect(next).toBeLessThan(fresh!.tokens.expiresAt!);
  });

  it('put an attempt whose refresher died mid-refresh first in line, ahead of any backlog', async () => {
    const url = pgFixture.storeUrl();
    const store = await seedDue(url, 50);
    // c0049 was being refreshed by a worker that died: write-ahead saved, outcome never saved.
    await diedMidRefresh(store, 'c0049');
    const member = await store.joinFleet('survivor');
    const { claimed } = await member.claimDue(request(1));
    expect(claimed.map((claim) => claim.name)).toEqual(['c0049']);
  });

  it('put a died attempt ahead of a backlog of connections never refreshed (imported, due since ever)', async () => {
    const url = pgFixture.storeUrl();
    const store = await pgFixture.openStore(url);
    // Imported refresh tokens without an access token: all due at once, like the 100k bench's seed.
    await store.insertMany(
      Array.from({ length: 500 }, (_, i) => {
        const { accessToken: _access, expiresAt: _expires, ...tokens } = newConnection('x').tokens;
        return newConnection(`i${String(i).padStart(4, '0')}`, { tokens });
      }),
    );
    await diedMidRefresh(store, 'i0499');
    await pgFixture.sql(`ANALYZE ${schemaOf(url)}.connections`);
    const member = await store.joinFleet('survivor');
    // Its spent refresh token works again only inside the provider's grace window: it must not wait its turn.
    const { claimed } = await member.claimDue(request(1));
    expect(claimed.map((claim) => claim.name)).toEqual(['i0499']);
  });

  it('give a dead worker’s claims to the others, and ignore the dead worker’s late release', async () => {
    const url = pgFixture.storeUrl();
    await seedDue(url, 10);
    const a = await (await pgFixture.openStore(url)).joinFleet('worker-a');
    const b = await (await pgFixture.openStore(url)).joinFleet('worker-b');
    const claimsOfA = (await a.claimDue(request(10))).claimed;
    expect(claimsOfA).toHaveLength(10);
    expect((await b.claimDue(request(10))).claimed).toEqual([]);

    // worker-a stops heartbeating (lost machine): its lease runs out.
    await pgFixture.sql(`UPDATE ${schemaOf(url)}.workers SET expires_at = 0 WHERE owner = 'worker-a'`);
    const taken = (await b.claimDue(request(10))).claimed;
    expect(taken.map((c) => c.name).sort()).toEqual(claimsOfA.map((c) => c.name).sort());
    for (const claim of taken) {
      expect(claim.fence).toBe(claimsOfA.find((old) => old.name === claim.name)!.fence + 1);
    }
    for (const claim of claimsOfA) await a.release(claim);
    expect(new Set(Object.values(await claimedBy(url)))).toEqual(new Set(['worker-b']));
  });

  it('hold a worker’s claims until its lease expires when it lives on another machine', async () => {
    const url = pgFixture.storeUrl();
    await seedDue(url, 3);
    const schema = schemaOf(url);
    await pgFixture.sql(
      `INSERT INTO ${schema}.workers (owner, host, pid, started_at, expires_at)
       VALUES ('remote', 'other-machine', 1, 0, (extract(epoch from clock_timestamp()) * 1000)::bigint + 400)`,
    );
    await pgFixture.sql(`UPDATE ${schema}.connections SET claim_owner = 'remote'`);
    const member = await (await pgFixture.openStore(url)).joinFleet('local');
    expect((await member.claimDue(request(10))).claimed).toEqual([]);
    let claimed: string[] = [];
    for (let i = 0; i < 200 && claimed.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      claimed = (await member.claimDue(request(10))).claimed.map((c) => c.name);
    }
    expect(claimed.sort()).toEqual(['c0000', 'c0001', 'c0002']);
  });

  it('free at once the claims of a worker on this machine whose process is gone', async () => {
    const url = pgFixture.storeUrl();
    await seedDue(url, 3);
    const schema = schemaOf(url);
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid as number;
    await pgFixture.sql(
      `INSERT INTO ${schema}.workers (owner, host, pid, started_at, expires_at) VALUES ('crashed', $1, $2, 0, $3)`,
      [localIdentity(), deadPid, Date.now() + HOUR],
    );
    await pgFixture.sql(`UPDATE ${schema}.connections SET claim_owner = 'crashed'`);
    // Joining heartbeats, and a heartbeat retires dead peers of this machine.
    const member = await (await pgFixture.openStore(url)).joinFleet('survivor');
    expect((await member.claimDue(request(10))).claimed).toHaveLength(3);
  });

  it('respect per-provider rate limits across claimers, postponing the rest to the end of the window', async () => {
    const url = pgFixture.storeUrl();
    const store = await seedDue(url, 4, 'fitbit');
    await store.insert(due(newConnection('unlimited', { provider: 'oura' })));
    const a = await store.joinFleet('worker-a');
    const b = await (await pgFixture.openStore(url)).joinFleet('worker-b');
    const now = Date.now();
    const limits = { now, rateLimits: [{ provider: 'fitbit', requests: 2, windowMs: HOUR }] };
    const windowEnd = (Math.floor(now / HOUR) + 1) * HOUR;

    // Two rounds fit in the budget of 2 requests per connection per hour, whichever worker claims.
    for (const member of [a, b]) {
      const { claimed, postponed } = await member.claimDue(request(10, limits));
      expect(claimed).toHaveLength(5);
      expect(postponed).toBe(0);
      for (const claim of claimed) await member.release(claim);
    }
    const third = await a.claimDue(request(10, limits));
    expect(third.claimed.map((c) => c.name)).toEqual(['unlimited']);
    expect(third.postponed).toBe(4);
    const rows = await pgFixture.sql<{ name: string; next_refresh_at: string; rate_window_count: number }>(
      `SELECT name, next_refresh_at, rate_window_count FROM ${schemaOf(url)}.connections WHERE provider = 'fitbit'`,
    );
    expect(
      rows.every((row) => Number(row.next_refresh_at) === windowEnd && row.rate_window_count === 2),
    ).toBe(true);
    // In the next window they are claimable again.
    const nextWindow = await b.claimDue(request(10, { ...limits, now: windowEnd }));
    expect(nextWindow.claimed).toHaveLength(4);
  });

  it('charge a claim the most requests one refresh may make, capped at the limit', async () => {
    const url = pgFixture.storeUrl();
    const store = await seedDue(url, 1);
    const member = await store.joinFleet('worker-a');
    const limits = { rateLimits: [{ provider: 'fitbit', requests: 5, windowMs: HOUR }], requestsPerClaim: 3 };
    const first = await member.claimDue(request(1, limits));
    expect(first.claimed).toHaveLength(1);
    await member.release(first.claimed[0]!);
    expect((await member.claimDue(request(1, limits))).postponed).toBe(1); // 3 + 3 > 5

    const tight = {
      rateLimits: [{ provider: 'fitbit', requests: 2, windowMs: 60_000 }],
      requestsPerClaim: 3,
    };
    const later = Date.now() + 2 * HOUR; // a fresh window; a limit below requestsPerClaim still lets one through
    expect((await member.claimDue(request(1, { ...tight, now: later }))).claimed).toHaveLength(1);
  });

  it('release pushes the next due time forward but never revives a connection taken out of scheduling', async () => {
    const url = pgFixture.storeUrl();
    const store = await seedDue(url, 2);
    const member = await store.joinFleet('worker-a');
    const [first, second] = (await member.claimDue(request(2))).claimed;
    await pgFixture.sql(`UPDATE ${schemaOf(url)}.connections SET next_refresh_at = NULL WHERE name = $1`, [
      second!.name,
    ]);
    const later = Date.now() + 60_000;
    await member.release(first!, { notBefore: later });
    await member.release(second!, { notBefore: later });
    const rows = await pgFixture.sql<{
      name: string;
      next_refresh_at: string | null;
      claim_owner: string | null;
    }>(`SELECT name, next_refresh_at, claim_owner FROM ${schemaOf(url)}.connections ORDER BY name`);
    expect(rows).toEqual([
      { name: first!.name, next_refresh_at: String(later), claim_owner: null },
      { name: second!.name, next_refresh_at: null, claim_owner: null },
    ]);
  });

  it('leaving returns unfinished claims and removes the worker', async () => {
    const url = pgFixture.storeUrl();
    const store = await seedDue(url, 5);
    const member = await store.joinFleet('worker-a');
    expect((await member.claimDue(request(5))).claimed).toHaveLength(5);
    await member.leave();
    expect(Object.values(await claimedBy(url))).toEqual([null, null, null, null, null]);
    expect(await pgFixture.sql(`SELECT * FROM ${schemaOf(url)}.workers`)).toEqual([]);
  });

  it('select due connections through the next_refresh_at index, not by reading the table', async () => {
    const url = pgFixture.storeUrl();
    const store = await pgFixture.openStore(url);
    await store.insertMany(Array.from({ length: 5_000 }, (_, i) => newConnection(`n${i}`)));
    await store.insertMany(Array.from({ length: 5 }, (_, i) => due(newConnection(`d${i}`))));
    const schema = schemaOf(url);
    const client = new pg.Client({ connectionString: pgFixture.databaseUrl });
    await client.connect();
    try {
      await client.query(`ANALYZE ${schema}.connections`);
      await client.query(
        `PREPARE claim(bigint, integer, text[], bigint[], bigint[], integer[], integer, text) AS ${claimStatement(`${schema}.connections`, `${schema}.workers`)}`,
      );
      const plan = await client.query(
        `EXPLAIN (FORMAT JSON) EXECUTE claim(${Date.now()}, 50, '{fitbit}', '{0}', '{${HOUR}}', '{150}', 3, 'w')`,
      );
      const text = JSON.stringify(plan.rows[0]);
      expect(text).toContain('"Index Name":"connections_due"');
      expect(text).not.toMatch(
        /"Node Type":"Seq Scan","Parallel Aware":false,"Async Capable":false,"Relation Name":"connections"/,
      );
    } finally {
      await client.end();
    }
  });

  it('hand back many claims released together, each with its own due time, ignoring a stale one among them', async () => {
    const url = pgFixture.storeUrl();
    await seedDue(url, 20);
    const member = await (await pgFixture.openStore(url)).joinFleet('worker-a');
    const claims = (await member.claimDue(request(20))).claimed;
    expect(claims).toHaveLength(20);
    const [stale, ...current] = claims;
    const later = Date.now() + 60_000;
    await Promise.all([
      member.release({ ...stale!, fence: stale!.fence - 1 }),
      ...current.map((claim, i) => member.release(claim, { notBefore: later + i })),
    ]);
    const rows = await pgFixture.sql<{ name: string; next_refresh_at: string; claim_owner: string | null }>(
      `SELECT name, next_refresh_at, claim_owner FROM ${schemaOf(url)}.connections`,
    );
    const byName = new Map(rows.map((row) => [row.name, row]));
    expect(byName.get(stale!.name)?.claim_owner).toBe('worker-a');
    current.forEach((claim, i) => {
      expect(byName.get(claim.name)).toMatchObject({ claim_owner: null, next_refresh_at: String(later + i) });
    });
  });

  it('never hand a worker again what it still holds, even after its lease lapsed (heartbeats late)', async () => {
    const url = pgFixture.storeUrl();
    await seedDue(url, 3);
    const member = await (await pgFixture.openStore(url)).joinFleet('worker-a');
    const [running, finished, queued] = (await member.claimDue(request(3))).claimed;
    // Its heartbeat is late: the lease ran out while all three are still due and held (refreshing, queued).
    await pgFixture.sql(`UPDATE ${schemaOf(url)}.workers SET expires_at = 0 WHERE owner = 'worker-a'`);
    const later = Date.now() + 60_000;
    const handedBack = member.release(finished!, { notBefore: later }); // rides with the next claim
    // Claiming them again would start a second refresh of a connection already refreshing or queued here.
    expect((await member.claimDue(request(3))).claimed).toEqual([]);
    await handedBack;
    expect(await claimedBy(url)).toEqual({
      [running!.name]: 'worker-a',
      [finished!.name]: null,
      [queued!.name]: 'worker-a',
    });
  });

  it('read the connections near expiry through the refresh-token expiry index', async () => {
    const url = pgFixture.storeUrl();
    const store = await pgFixture.openStore(url);
    const now = Date.now();
    await store.insertMany(Array.from({ length: 5_000 }, (_, i) => newConnection(`n${i}`)));
    await store.insertMany(
      Array.from({ length: 3 }, (_, i) =>
        newConnection(`x${i}`, {
          tokens: { ...newConnection(`x${i}`).tokens, refreshTokenExpiresAt: now + HOUR },
        }),
      ),
    );
    const schema = schemaOf(url);
    await pgFixture.sql(`ANALYZE ${schema}.connections`);
    const indexScans = async () => {
      await pgFixture.sql('SELECT pg_stat_clear_snapshot()');
      const [row] = await pgFixture.sql<{ scans: string }>(
        `SELECT idx_scan AS scans FROM pg_stat_user_indexes
         WHERE schemaname = $1 AND indexrelname = 'connections_refresh_token_expiry'`,
        [schema],
      );
      return Number(row?.scans ?? -1);
    };
    const before = await indexScans();
    expect(before).toBeGreaterThanOrEqual(0);
    expect((await store.expiringBefore(now + 2 * HOUR)).map((c) => c.name)).toEqual(['x0', 'x1', 'x2']);
    await store.close(); // a backend publishes its counters as it exits (else when idle, after up to 10 s)
    await waitUntil(async () => (await indexScans()) > before, {
      timeoutMs: 20_000,
      everyMs: 200,
      describe: () => 'a scan of the refresh-token expiry index',
    });
  });
});

/** Leaves `name` as a worker that died mid-refresh leaves it: write-ahead saved, outcome never saved. */
async function diedMidRefresh(store: ConnectionStore, name: string): Promise<void> {
  const crashed = (await store.get(name))!;
  await store.update({
    ...crashed,
    status: 'refreshing',
    pending: {
      attemptId: 'attempt-1',
      refreshToken: crashed.tokens.refreshToken!,
      startedAt: Date.now(),
      owner: 'dead-worker',
    },
  });
}
