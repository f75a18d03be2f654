import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

/**
 * A CPU profile of a window of a process's life (one measured block, not its start-up): the
 * orchestrator starts it before the block and stops it after, and gets a .cpuprofile file
 * (Chrome DevTools, speedscope) of exactly that block.
 */
export function windowProfiler() {
  let session: Session | undefined;
  return {
    async start(intervalUs = 200): Promise<void> {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
      await session.post('Profiler.start');
    },
    async stop(file: string): Promise<string> {
      if (session === undefined) throw new Error('no profile was started');
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      session = undefined;
      await writeFile(file, JSON.stringify(profile));
      return file;
    },
  };
}
