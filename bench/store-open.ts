/**
 * Store open + read, on a store holding 100 connections:
 *  - `SqliteStore.open()` + `get(name)` + `close()` (pragmas, schema, BEGIN IMMEDIATE key check, 3 field
 *    decryptions) against opening the same file with plain `node:sqlite` DatabaseSync, one SELECT, close;
 *  - `list()` of all 100 connections (300 AES-256-GCM field decryptions) against the same SELECT over plain
 *    node:sqlite, both on an already open database.
 */
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { loadKeyring } from '../src/crypto/key-source.ts';
import { SqliteStore } from '../src/stores/sqlite-store.ts';
import { benchEnv, freshTokens, makeHome, removeHome } from './fixtures.ts';
import { measureInterleaved, progress, ratioOf, summarize, type BenchResult } from './stats.ts';

export interface StoreBenchOptions {
  connections?: number;
  rounds?: number;
  warmup?: number;
}

export async function benchStoreOpen(options: StoreBenchOptions = {}): Promise<BenchResult> {
  const count = options.connections ?? 100;
  const rounds = options.rounds ?? 200;
  const warmup = options.warmup ?? 20;
  const scope = 'store';
  const home = makeHome('store');
  try {
    const path = join(home, 'tokenkeeper.db');
    const keyring = loadKeyring({ dataDir: home, env: benchEnv(home) });
    const names = Array.from({ length: count }, (_, index) => `conn-${String(index).padStart(3, '0')}`);
    const target = names[Math.floor(count / 2)] as string;

    progress(scope, `creating a store with ${count} connections`);
    const setup = SqliteStore.open({ path, keyring });
    try {
      for (const name of names) {
        await setup.insert({
          name,
          provider: 'fitbit',
          clientId: 'bench-client',
          clientSecret: `secret-${name}`,
          tokens: freshTokens(`access-${name}-${'a'.repeat(200)}`, `refresh-${name}-${'r'.repeat(64)}`),
          status: 'active',
          failureCount: 0,
        });
      }
    } finally {
      await setup.close();
    }

    // 1. Open + read one + close.
    const openRead = async () => {
      const store = SqliteStore.open({ path, keyring });
      try {
        const connection = await store.get(target);
        if (connection?.tokens.accessToken?.startsWith(`access-${target}-`) !== true) {
          throw new Error(`SqliteStore.get(${target}) did not return the decrypted connection`);
        }
      } finally {
        await store.close();
      }
    };
    const rawOpenRead = () => {
      const db = new DatabaseSync(path);
      try {
        const row = db.prepare('SELECT * FROM connections WHERE name = ?').get(target);
        if (row?.name !== target) throw new Error(`raw SELECT did not find ${target}`);
      } finally {
        db.close();
      }
    };
    progress(scope, `open + get + close: ${warmup} warm-up + ${rounds} timed rounds`);
    const open = await measureInterleaved([openRead, rawOpenRead], {
      warmup,
      rounds,
      progressEvery: 100,
      onProgress: (done) => progress(scope, `open + get + close: ${done}/${rounds}`),
    });

    // 2. Read (and decrypt) every connection on an open database.
    const store = SqliteStore.open({ path, keyring });
    const db = new DatabaseSync(path);
    let listSamples: number[][];
    try {
      const listAll = async () => {
        const all = await store.list();
        if (all.length !== count || all[count - 1]?.tokens.refreshToken === undefined) {
          throw new Error(`SqliteStore.list() returned ${all.length} connections, expected ${count}`);
        }
      };
      const select = db.prepare('SELECT * FROM connections ORDER BY name');
      const rawList = () => {
        const rows = select.all();
        if (rows.length !== count) throw new Error(`raw SELECT returned ${rows.length} rows`);
      };
      progress(scope, `list() of ${count}: ${warmup} warm-up + ${rounds} timed rounds`);
      listSamples = (
        await measureInterleaved([listAll, rawList], {
          warmup,
          rounds,
          progressEvery: 100,
          onProgress: (done) => progress(scope, `list(): ${done}/${rounds}`),
        })
      ).samples;
    } finally {
      db.close();
      await store.close();
    }

    const openSummary = summarize(open.samples[0] ?? []);
    const rawOpenSummary = summarize(open.samples[1] ?? []);
    const listSummary = summarize(listSamples[0] ?? []);
    const rawListSummary = summarize(listSamples[1] ?? []);
    const rawOpenLabel = 'DatabaseSync open + SELECT 1 + close';
    const openLabel = 'SqliteStore.open + get + close';
    const rawListLabel = `SELECT ${count} rows (node:sqlite)`;
    const listLabel = `list() ${count} connections (decrypt)`;
    return {
      id: 'store-open',
      title: `Store (${count} connections)`,
      measurements: [
        { label: rawOpenLabel, role: 'baseline', summary: rawOpenSummary },
        { label: openLabel, role: 'subject', summary: openSummary, comparedWith: rawOpenLabel },
        { label: rawListLabel, role: 'baseline', summary: rawListSummary },
        { label: listLabel, role: 'subject', summary: listSummary, comparedWith: rawListLabel },
      ],
      ratios: [
        ratioOf(openLabel, openSummary, rawOpenSummary),
        ratioOf(listLabel, listSummary, rawListSummary),
      ],
      derived: {
        openOverheadMedianMs: openSummary.median - rawOpenSummary.median,
        decryptPerConnectionMedianUs: ((listSummary.median - rawListSummary.median) / count) * 1000,
      },
      notes: [
        `list(): about ${(((listSummary.median - rawListSummary.median) / count) * 1000).toFixed(1)} µs per connection over the plain SELECT (3 encrypted fields each)`,
      ],
    };
  } finally {
    removeHome(home);
  }
}
