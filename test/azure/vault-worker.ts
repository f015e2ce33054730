// A separate process that opens the vault exactly as the CLI does (createKeeper with --store keyvault://…) and
// refreshes on command, for the cross-process race tests. Trusts the fake vault through NODE_EXTRA_CA_CERTS.
// Messages in:  {type: 'access', cycle, now} -> accessToken(name) with the keeper clock set to `now`
// Messages out: {type: 'ready'} | {type: 'done', cycle, error?}
import { createKeeper } from '../../src/keeper/keeper.ts';

const [storeSpec, tokenUrl, name] = process.argv.slice(2) as [string, string, string];
let now = Date.now();
const keeper = await createKeeper({
  store: storeSpec,
  clock: { now: () => now },
  config: { providers: { fitbit: { tokenUrl } }, refresh: { timeoutSeconds: 5, lockWaitSeconds: 60 } },
});

const send = (message: object) => process.send?.(message);

process.on('message', (message: { type: string; cycle?: number; now?: number }) => {
  if (message.type === 'access') {
    now = message.now ?? Date.now();
    keeper.accessToken(name).then(
      () => send({ type: 'done', cycle: message.cycle }),
      (error: Error) =>
        send({ type: 'done', cycle: message.cycle, error: `${error.name}: ${error.message}` }),
    );
  } else if (message.type === 'exit') {
    void keeper.close().then(() => process.exit(0));
  }
});
send({ type: 'ready' });
