import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const workerPath = fileURLToPath(new URL('./vault-worker.ts', import.meta.url));

export interface VaultWorker {
  child: ChildProcess;
  /** Sends a message and resolves with the next reply of type `reply`. */
  request(message: object, reply: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Starts vault-worker.ts in its own Node process and waits until its keeper is open. */
export async function startVaultWorker(
  args: { storeSpec: string; tokenUrl: string; name: string },
  env: NodeJS.ProcessEnv,
): Promise<VaultWorker> {
  const child = fork(workerPath, [args.storeSpec, args.tokenUrl, args.name], {
    env,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const waiting = new Map<string, Array<(message: Record<string, unknown>) => void>>();
  child.on('message', (message: Record<string, unknown>) =>
    waiting.get(String(message.type))?.shift()?.(message),
  );
  const next = (type: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onExit = (code: number | null) =>
        reject(new Error(`vault worker exited (${code}): ${stderr.slice(-800)}`));
      child.once('exit', onExit);
      waiting.set(type, [
        ...(waiting.get(type) ?? []),
        (message) => {
          child.off('exit', onExit);
          resolve(message);
        },
      ]);
    });
  await next('ready');
  return {
    child,
    request(message, reply) {
      const answer = next(reply);
      child.send(message);
      return answer;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
