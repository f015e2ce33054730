import { describe, expect, it } from 'vitest';
import { FreshReads } from './fresh-reads.ts';

describe('FreshReads', () => {
  it('makes one read for the callers of a turn, after they asked, and a new one for a later turn', async () => {
    let value = 0;
    let reads = 0;
    const fresh = new FreshReads(() => {
      reads++;
      return value;
    });
    const first = fresh.next();
    value = 1; // written after the callers asked, before the read: they see it
    const second = fresh.next();
    expect(await Promise.all([first, second])).toEqual([1, 1]);
    expect(reads).toBe(1);
    value = 2;
    expect(await fresh.next()).toBe(2);
    expect(reads).toBe(2);
  });

  it('keeps keys apart, and gives a caller that arrives during a slow read the next read', async () => {
    const started: string[] = [];
    const gates: Array<() => void> = [];
    let version = 0;
    const fresh = new FreshReads(async (key) => {
      started.push(key);
      const seen = version;
      if (key === 'slow') await new Promise<void>((resolve) => gates.push(resolve));
      return `${key}:${seen}`;
    });
    const slow = fresh.next('slow');
    expect(await fresh.next('fast')).toBe('fast:0');
    expect(started).toEqual(['slow', 'fast']);
    version = 1;
    const later = fresh.next('slow'); // the read under way began before this caller asked
    gates.shift()?.();
    expect(await slow).toBe('slow:0');
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['slow', 'fast', 'slow']);
    gates.shift()?.();
    expect(await later).toBe('slow:1');
  });

  it('hands a failed read to every caller of its turn, and reads again for the next turn', async () => {
    let down = true;
    const fresh = new FreshReads(() => {
      if (down) throw new Error('store down');
      return 'up';
    });
    const callers = [fresh.next(), fresh.next()];
    for (const caller of callers) await expect(caller).rejects.toThrow('store down');
    down = false;
    expect(await fresh.next()).toBe('up');
  });
});
