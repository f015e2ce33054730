/**
 * The fleet engine without the CLI around it: createKeeper on the PostgreSQL store + runScheduler, as a library
 * user would run it. `npm run bench:scale` uses it to measure the scheduler's own memory, apart from what
 * `tokenkeeper run` adds at start-up (it lists every connection once) and for its HTTP services.
 * Usage: node bench/scale/engine-worker.ts <store url> <token url> <concurrency>; SIGTERM stops it gracefully.
 */
import { silentLogger } from '../../src/core/logger.ts';
import { runScheduler } from '../../src/daemon/scheduler.ts';
import { createKeeper } from '../../src/keeper/keeper.ts';

const [store, tokenUrl, concurrency] = process.argv.slice(2) as [string, string, string];
const keeper = await createKeeper({ store, config: { providers: { fitbit: { tokenUrl } } } });
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
process.once('SIGINT', () => stop.abort());
await runScheduler(keeper, {
  concurrency: Number(concurrency),
  maxSleepMs: 60_000,
  signal: stop.signal,
  logger: silentLogger,
});
await keeper.close();
