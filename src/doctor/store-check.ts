import type { Stats } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import { describeError, exitCodes } from '../core/errors.ts';
import { envelopeKeyId, type Keyring } from '../crypto/envelope.ts';
import { keyCheckPasses } from '../stores/key-check.ts';
import { fail, ok, warn, type CheckResult } from './check.ts';
import { checkSqliteFile } from '../files/sqlite-file.ts';
import { needsHuman } from '../core/types.ts';

/** How many connections of one provider have one status. */
export interface StoredCount {
  provider: string;
  status: string;
  n: number;
}

/** What the store's contents say, whichever store they came from: how many, whether the key fits, who needs a human. */
export function judgeStoreContents(contents: {
  location: string;
  rows: readonly StoredCount[];
  keyCheck: string | undefined;
  keyring: Keyring | undefined;
  keyOrigin: string;
  storedProviders: Set<string>;
}): CheckResult {
  const { location, rows, keyCheck, keyring } = contents;
  for (const row of rows) contents.storedProviders.add(row.provider);
  const count = (wanted: (status: string) => boolean) =>
    rows.filter((row) => wanted(row.status)).reduce((sum, row) => sum + Number(row.n), 0);
  const total = count(() => true);
  const human = count(needsHuman);
  const summary = `${location}: ${total} connection${total === 1 ? '' : 's'}`;
  if (keyCheck !== undefined) {
    if (!keyring) {
      return fail(
        'store',
        title,
        `${summary}, but no key to read it (${contents.keyOrigin} is missing or invalid)`,
        'restore the key that created this store, or set TOKENKEEPER_KEY to it',
        exitCodes.store,
      );
    }
    if (!keyCheckPasses(keyring, keyCheck)) {
      return fail(
        'store',
        title,
        `${summary}, encrypted with key ${envelopeKeyId(keyCheck) ?? '?'}, not the loaded key ${keyring.current.id}`,
        'set TOKENKEEPER_KEY (or the key file) to the key that created this store',
        exitCodes.store,
      );
    }
  }
  if (human > 0) {
    return warn(
      'store',
      title,
      `${summary}, ${human} need${human === 1 ? 's' : ''} a human (needs_reauth or provider_retired)`,
      'see `tokenkeeper status`, then `tokenkeeper connect <provider> --name <name>` to reconnect',
    );
  }
  return ok('store', title, `${summary}, readable with the loaded key`);
}

const title = 'store';

/**
 * Looks into the store without changing it: a SQLite file is opened read-only and `immutable` (so SQLite
 * creates no -wal/-shm files and takes no locks), after checking that it is a SQLite file at all. Other stores
 * are named but not opened (opening them may migrate or talk to the cloud).
 */
export function checkStore(
  spec: string,
  keyring: Keyring | undefined,
  keyOrigin: string,
  /** Filled with the providers the stored connections use (their endpoints are checked too). */
  storedProviders: Set<string> = new Set(),
): CheckResult {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) {
    const scheme = spec.slice(0, spec.indexOf(':'));
    return warn(
      'store',
      title,
      `${scheme}://… store: not opened by doctor (SQLite and PostgreSQL stores are checked)`,
      'run `tokenkeeper status` to check it',
    );
  }
  let stats: Stats | undefined;
  try {
    // The store's own rule: a link, a special file or another program's file is refused as opening would.
    stats = checkSqliteFile(spec, 'store');
  } catch (error) {
    return fail(
      'store',
      title,
      describeError(error), // says what to change
      undefined,
      exitCodes.store,
    );
  }
  if (!stats) return ok('store', title, `${spec}: not created yet (created by the first connect or add)`);

  const url = pathToFileURL(spec);
  url.searchParams.set('immutable', '1');
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(url, { readOnly: true });
    const tables = new Set(
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map(
        (row) => row.name,
      ),
    );
    if (!tables.has('meta') || !tables.has('connections')) {
      return fail(
        'store',
        title,
        `${spec} is a SQLite database but not a tokenkeeper store`,
        "point the store at tokenkeeper's database",
        exitCodes.store,
      );
    }
    const keyCheck = (
      db.prepare("SELECT value FROM meta WHERE key = 'key_check'").get() as { value: string } | undefined
    )?.value;
    const rows = db
      .prepare('SELECT provider, status, count(*) AS n FROM connections GROUP BY provider, status')
      .all() as unknown as StoredCount[];
    return judgeStoreContents({ location: spec, rows, keyCheck, keyring, keyOrigin, storedProviders });
  } catch (error) {
    return fail('store', title, `cannot read ${spec}: ${describeError(error)}`, undefined, exitCodes.store);
  } finally {
    db?.close();
  }
}
