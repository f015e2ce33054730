import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const workerPath = fileURLToPath(new URL('./refresh-worker.ts', import.meta.url));

export interface Worker {
  child: ChildProcess;
  /** Resolves with the next message of the given type. */
  next(type: string): Promise<Record<string, unknown>>;
  on(type: string, listener: (message: Record<string, unknown>) => void): void;
}

/** Starts a refresh worker process (Node 24 runs the TypeScript directly) and waits until it is ready. */
export async function startWorker(
  storePath: string,
  tokenUrl: string,
  env: NodeJS.ProcessEnv,
): Promise<Worker> {
  const child = fork(workerPath, [storePath, tokenUrl], { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const waiting = new Map<string, Array<(message: Record<string, unknown>) => void>>();
  const listeners = new Map<string, Array<(message: Record<string, unknown>) => void>>();
  child.on('message', (message: Record<string, unknown>) => {
    const type = String(message.type);
    listeners.get(type)?.forEach((listener) => listener(message));
    const queue = waiting.get(type);
    queue?.shift()?.(message);
  });
  const worker: Worker = {
    child,
    next: (type) =>
      new Promise((resolve, reject) => {
        const onExit = (code: number | null, signal: string | null) =>
          reject(new Error(`worker exited (${code ?? signal}) before "${type}": ${stderr.slice(-500)}`));
        child.once('exit', onExit);
        const queue = waiting.get(type) ?? [];
        queue.push((message) => {
          child.off('exit', onExit);
          resolve(message);
        });
        waiting.set(type, queue);
      }),
    on: (type, listener) => listeners.set(type, [...(listeners.get(type) ?? []), listener]),
  };
  await worker.next('ready');
  return worker;
}

export function stopWorker(worker: Worker): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    worker.child.once('exit', () => resolve());
    worker.child.kill('SIGKILL');
  });
}
