// temporary memory probe (not part of the deliverable)
import pg from 'pg';
import { readdirSync } from 'node:fs';
import { PostgresStore } from '../../src/stores/postgres/postgres-store.ts';
import { startSimulatedFitbit } from '../../src/simulator/index.ts';
import { startCluster } from '../../test/postgres/cluster.ts';
import { seedDueConnections } from '../../test/postgres/seed.ts';
import { KEY_A_HEX, keyring } from '../../test/postgres/keys.ts';
import { createFleetHome, rssBytes, startWorker } from '../../test/postgres/worker-processes.ts';

const N = Number(process.argv[2] ?? 20000);
const cluster = await startCluster();
const db = await cluster.createDatabase('probe');
const url = db + '?schema=probe&pool=16';
const sim = await startSimulatedFitbit({ latencyMs: 50, rateLimitPerHour: 150 });
const store = await PostgresStore.open({ spec: url, keyring: keyring() });
await seedDueConnections(store, sim, N);
const home = createFleetHome({ keyHex: KEY_A_HEX, tokenUrl: sim.tokenUrl });
const w = startWorker(home, url, { concurrency: 16, args: ['--no-server'], execArgv: (process.env.PROBE_ARGS ?? '').split(' ').filter(Boolean) });
const marks = [N * 0.1, N * 0.5, N * 0.95];
while (sim.stats.refreshSuccesses < N) {
  if (marks.length && sim.stats.refreshSuccesses >= marks[0]!) {
    marks.shift();
    process.kill(w.pid, 'SIGUSR2');
    console.log('snapshot at', sim.stats.refreshSuccesses, 'rss', (rssBytes(w.pid)! / 1048576).toFixed(0));
  }
  await new Promise((r) => setTimeout(r, 200));
}
await new Promise((r) => setTimeout(r, 3000));
console.log(readdirSync('/tmp/tkprobe'));
await w.terminate();
await store.close();
await sim.close();
await cluster.stop();
home.remove();
