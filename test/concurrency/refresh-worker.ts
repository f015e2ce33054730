// A separate process that refreshes one connection on command, for the multi-process tests.
// Messages in:  {type: 'access', cycle, now}  -> accessToken() with the keeper clock set to `now`
//               {type: 'force-loop'}         -> forced refreshes back to back until killed
// Messages out: {type: 'ready'} | {type: 'done', cycle, error?} | {type: 'refreshed'}
import { createKeeper } from '../../src/keeper/keeper.ts';

const [storePath, tokenUrl] = process.argv.slice(2) as [string, string];
let now = Date.now();
const keeper = await createKeeper({
  store: storePath,
  clock: { now: () => now },
  config: {
    providers: { fitbit: { tokenUrl } },
    refresh: { timeoutSeconds: 2, lockWaitSeconds: 60 },
  },
});

const send = (message: object) => process.send?.(message);

process.on('message', (message: { type: string; cycle?: number; now?: number }) => {
  if (message.type === 'access') {
    now = message.now ?? Date.now();
    keeper.accessToken('me').then(
      () => send({ type: 'done', cycle: message.cycle }),
      (error: Error) =>
        send({ type: 'done', cycle: message.cycle, error: `${error.name}: ${error.message}` }),
    );
  } else if (message.type === 'force-loop') {
    void (async () => {
      for (;;) {
        now = Date.now();
        try {
          await keeper.refresh('me', { force: true });
          send({ type: 'refreshed' });
        } catch (error) {
          send({ type: 'error', error: (error as Error).message });
        }
      }
    })();
  } else if (message.type === 'exit') {
    void keeper.close().then(() => process.exit(0));
  }
});
send({ type: 'ready' });
