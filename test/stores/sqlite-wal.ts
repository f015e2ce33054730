/**
 * Counts the commits in a SQLite write-ahead log, read from outside as any tool could: every commit appends its
 * pages as frames, and the last frame of a commit records the database size (non-zero), the others zero. With
 * synchronous=FULL every commit is a durable one (an fsync of the log).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;

export interface WalCommits {
  /** The log's salt: it changes when the log restarts after a checkpoint, so counts are comparable only while equal. */
  salt: string;
  commits: number;
}

/** The commits in `dbPath`'s log since it last restarted. */
export function walCommits(dbPath: string): WalCommits {
  const path = `${dbPath}-wal`;
  const size = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  if (size < WAL_HEADER_BYTES) return { salt: 'empty', commits: 0 };
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(WAL_HEADER_BYTES);
    readSync(fd, header, 0, WAL_HEADER_BYTES, 0);
    const pageSize = header.readUInt32BE(8);
    const salt = header.subarray(16, 24);
    const frame = Buffer.alloc(FRAME_HEADER_BYTES);
    let commits = 0;
    for (
      let at = WAL_HEADER_BYTES;
      at + FRAME_HEADER_BYTES + pageSize <= size;
      at += FRAME_HEADER_BYTES + pageSize
    ) {
      readSync(fd, frame, 0, FRAME_HEADER_BYTES, at);
      // Frames left from before the last restart carry the old salt: the log ends at the first of them.
      if (!frame.subarray(8, 16).equals(salt)) break;
      if (frame.readUInt32BE(4) !== 0) commits++;
    }
    return { salt: salt.toString('hex'), commits };
  } finally {
    closeSync(fd);
  }
}

/** The commits `work` made to `dbPath`, or undefined when the log restarted meanwhile (count again). */
export async function commitsDuring(
  dbPath: string,
  work: () => Promise<unknown>,
): Promise<number | undefined> {
  const before = walCommits(dbPath);
  await work();
  const after = walCommits(dbPath);
  return after.salt === before.salt ? after.commits - before.commits : undefined;
}
