/**
 * `expiring_soon` from the Functions app: every timer run raises it again while the window is open, on whatever
 * instance runs, and the marker blob of its id (written once the delivery succeeded) has it sent once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterEach, describe, expect, it } from 'vitest';
import { generateWebhookSecret } from '../../src/webhooks/signature.ts';
import { FunctionAlerts } from '../../src/azure/alerts.ts';
import { invocationLogger } from '../../src/azure/invocation-log.ts';
import { createTimerHandler } from '../../src/azure/timer-handler.ts';
import { startReceiver } from '../server/daemon.ts';
import { invocation, sharedAzure, timerFiring, type AzureWorld } from './harness.ts';

const SECRET = generateWebhookSecret();

describe('expiring_soon from the Functions app', () => {
  const azure = sharedAzure();
  let world: AzureWorld;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const dirs: string[] = [];

  afterEach(async () => {
    await world?.close();
    await receiver?.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A vault whose Fitbit refresh tokens live two hours under a 1-day window (so each is in it at once, and dies
   * before the next planned refresh of its 8-hour access token could renew it), seeded.
   */
  const expiringWorld = async (script: number[] = []) => {
    world = await azure.world({ sim: { refreshTokenExpiresInSeconds: 2 * 3600 } });
    receiver = await startReceiver(script);
    const fitbit = world.config.providers?.fitbit;
    world.config.providers = { fitbit: { ...fitbit, expiringSoonDays: 1 } };
    world.config.webhooks = { endpoints: [], maxAttempts: 1 };
    world.seedLikeCSharp();
  };

  /** One Functions instance (its own data dir) with webhooks from the app settings: its timer function. */
  const instance = async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tk-instance-'));
    dirs.push(dataDir);
    const alerts = new FunctionAlerts();
    const keeper = await world.functionKeeper({
      appSettings: { TOKENKEEPER_WEBHOOK_URL: receiver.url, TOKENKEEPER_WEBHOOK_SECRET: SECRET },
      alerts,
      logger: invocationLogger,
      dataDir,
    });
    return createTimerHandler(async () => keeper, { alerts });
  };

  const markerBlobs = async () => {
    const container = BlobServiceClient.fromConnectionString(
      world.azurite.connectionString,
    ).getContainerClient('tokenkeeper-locks');
    // The markers of this world's vault (Azurite is shared by the tests of this file).
    const prefix = `notices/${world.kv.host.replace(/[^a-zA-Z0-9.-]/g, '-')}/`;
    const names: string[] = [];
    for await (const item of container.listBlobsFlat({ prefix })) names.push(item.name);
    return names;
  };

  const warningLine =
    /^warning: tokenkeeper: connection "fitbit": its refresh token expires at \S+: reconnect it/;

  it('two timer runs, on two instances, deliver it once; each run still warns in its log', async () => {
    await expiringWorld();
    const first = await instance();
    const run = invocation('tokenkeeperRefresh');
    const report = await first(timerFiring(), run.context);
    expect(report).toMatchObject({ refreshed: ['fitbit'], expiring: ['fitbit'], failed: [] });
    // Delivered before the invocation returned, and marked.
    expect(receiver.received.map((hook) => hook.json.type)).toEqual(['expiring_soon']);
    const [hook] = receiver.received;
    expect(hook?.json).toMatchObject({
      type: 'expiring_soon',
      connection: { name: 'fitbit', provider: 'fitbit' },
      expiring: { what: 'refresh_token' },
    });
    const id = hook?.json.id as string;
    expect(id).toMatch(/^evt_exp_/);
    expect(await markerBlobs()).toEqual([expect.stringMatching(new RegExp(`^notices/[^/]+/${id}$`))]);
    expect(run.logs.filter((line) => warningLine.test(line))).toHaveLength(1);

    const again = invocation('tokenkeeperRefresh');
    expect(await first(timerFiring(), again.context)).toMatchObject({
      notDue: ['fitbit'],
      expiring: ['fitbit'],
    });
    expect(again.logs.filter((line) => warningLine.test(line))).toHaveLength(1);

    const second = await instance();
    const elsewhere = invocation('tokenkeeperRefresh');
    expect(await second(timerFiring(), elsewhere.context)).toMatchObject({ expiring: ['fitbit'] });
    expect(receiver.attempts).toHaveLength(1);
    expect(await markerBlobs()).toHaveLength(1);
  });

  it('a delivery that fails leaves no marker, so the next run sends it again (at least once)', async () => {
    await expiringWorld([400]);
    const timer = await instance();
    await timer(timerFiring(), invocation('tokenkeeperRefresh').context);
    expect(receiver.attempts).toHaveLength(1);
    expect(receiver.received).toHaveLength(0);
    expect(await markerBlobs()).toEqual([]);

    await timer(timerFiring(), invocation('tokenkeeperRefresh').context);
    expect(receiver.received.map((hook) => hook.json.id)).toEqual([receiver.attempts[0]?.json.id]);
    expect(await markerBlobs()).toHaveLength(1);

    await timer(timerFiring(), invocation('tokenkeeperRefresh').context);
    expect(receiver.attempts).toHaveLength(2);
  });
});
