import type { CliIo } from '../io.js';

/** Wraps a command's body as a commander action: its result becomes the process's exit code. */
export type Runner = <A extends unknown[]>(
  body: (io: CliIo, ...args: A) => Promise<number>,
) => (...args: A) => Promise<void>;

export function createRunner(io: CliIo, result: { code: number }): Runner {
  return (body) =>
    async (...args) => {
      result.code = await body(io, ...args);
    };
}
