import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/**
 * Request/answer over a child's IPC channel: every request carries an id, the child answers
 * with the same id. The benchmark's processes (load generator, service) speak only this.
 */
export interface Worker {
  request<T>(message: Record<string, unknown>): Promise<T>;
  readonly pid: number | undefined;
  close(): Promise<void>;
}

let nextId = 1;

/**
 * BENCH_CPU_PROF=1 writes a --cpu-prof profile of every child into the cwd; any other value is
 * a directory: each child writes into a directory of its own there, named after its script
 * and start order (service-3/), one profile per thread (the main one is the largest).
 */
function cpuProfArgs(script: string): string[] {
  const setting = process.env.BENCH_CPU_PROF;
  if (!setting) return [];
  const name = `${path.basename(script, path.extname(script))}-${String(nextId++)}`;
  return ['--cpu-prof', ...(setting === '1' ? [] : [`--cpu-prof-dir=${path.join(setting, name)}`])];
}

export async function startWorker(
  script: string,
  env: Record<string, string>,
  ready = 'ready',
): Promise<Worker & { hello: Record<string, unknown> }> {
  const child: ChildProcess = fork(script, [], {
    execArgv: ['--import', 'tsx', ...cpuProfArgs(script)],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let hello: (message: Record<string, unknown>) => void = () => {};
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    hello = resolve;
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  child.on('message', (message: Record<string, unknown>) => {
    if (message.type === ready) return hello(message);
    const id = message.id as number;
    const pending = waiting.get(id);
    if (pending === undefined) return;
    waiting.delete(id);
    if (typeof message.error === 'string') pending.reject(new Error(message.error));
    else pending.resolve(message);
  });
  child.on('exit', () => {
    for (const pending of waiting.values()) pending.reject(new Error(`${script} exited`));
    waiting.clear();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const first = await started.finally(() => clearTimeout(timer));
  return {
    hello: first,
    pid: child.pid,
    request<T>(message: Record<string, unknown>) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ ...message, id });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.send({ type: 'close' });
      }),
  };
}

/** The child's side: answers every request with `handle`'s result (or its error), by id. */
export function serveRequests(
  handle: (message: Record<string, unknown>) => Promise<Record<string, unknown>>,
  onClose: () => Promise<void> | void,
): void {
  process.on('message', (message: Record<string, unknown>) => {
    if (message.type === 'close') {
      void Promise.resolve(onClose()).then(() => process.exit(0));
      return;
    }
    handle(message).then(
      (answer) => process.send?.({ ...answer, id: message.id }),
      (error: unknown) =>
        process.send?.({
          id: message.id,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
