/** What a command may touch of the outside world: its output streams and its environment. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Whether stdout is a terminal (colour is used only there). */
  isTTY?: boolean;
}

export const processIo = (): CliIo => ({
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
  isTTY: process.stdout.isTTY,
});

export const EXIT = {
  ok: 0,
  /** `check` answered no; `schema diff` found a difference; `import` found invalid lines. */
  no: 1,
  usage: 2,
  /** The service or SpiceDB refused or failed the call. */
  failed: 3,
} as const;

/** A command line that cannot be run as given: exit 2, with the command's help hint. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A call that failed for a reason the user can act on: exit 3 with the message and the next
 * step (which URL was tried, what to start or configure).
 */
export class CliFailure extends Error {
  override name = 'CliFailure';
  constructor(
    message: string,
    readonly code?: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Colour only on a terminal, never with NO_COLOR (https://no-color.org) or TERM=dumb. */
export function colourOf(io: CliIo) {
  const on =
    io.isTTY === true &&
    (io.env.NO_COLOR === undefined || io.env.NO_COLOR === '') &&
    io.env.TERM !== 'dumb';
  const paint = (code: number) => (text: string) => (on ? `\u001b[${code}m${text}\u001b[0m` : text);
  return { enabled: on, green: paint(32), red: paint(31), dim: paint(2), bold: paint(1) };
}
