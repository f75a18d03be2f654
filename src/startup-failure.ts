import { ConfigError, type Env } from './config/env.js';

/**
 * A start that cannot succeed ends with one line naming the variable to fix and the cause,
 * not a stack trace: an operator reads it in a container log or a terminal.
 */
export class StartupFailure extends Error {
  override name = 'StartupFailure';
}

/** Why listening on HOST:PORT failed, as one line. */
export function listenFailure(error: NodeJS.ErrnoException, env: Pick<Env, 'HOST' | 'PORT'>) {
  const where = `${env.HOST}:${env.PORT}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new StartupFailure(
        `PORT ${env.PORT} is already in use on ${env.HOST} (EADDRINUSE): stop the other process or set PORT`,
      );
    case 'EACCES':
      return new StartupFailure(
        `PORT ${env.PORT} needs privileges on ${env.HOST} (EACCES): use a PORT above 1023`,
      );
    case 'EADDRNOTAVAIL':
      return new StartupFailure(
        `HOST ${env.HOST} is not an address of this machine (EADDRNOTAVAIL): set HOST to one of its addresses, 127.0.0.1 or 0.0.0.0`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StartupFailure(
        `HOST ${env.HOST} does not resolve (${error.code}): set HOST to an address or a known name`,
      );
    default:
      return new StartupFailure(
        `cannot listen on ${where} (${error.code ?? 'error'}: ${error.message}): check HOST and PORT`,
      );
  }
}

/** Why SpiceDB could not be reached or prepared at start, as one line. */
export function spiceDbFailure(error: unknown, env: Pick<Env, 'SPICEDB_ENDPOINT'>) {
  const cause = firstLine(error);
  if (env.SPICEDB_ENDPOINT === undefined) {
    return new StartupFailure(`the embedded SpiceDB (SPICEDB_ENDPOINT unset) failed: ${cause}`);
  }
  return new StartupFailure(
    `SPICEDB_ENDPOINT ${env.SPICEDB_ENDPOINT} did not answer: ${cause} (is SpiceDB running there? check SPICEDB_ENDPOINT, SPICEDB_TOKEN, SPICEDB_INSECURE)`,
  );
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]?.trim() || 'unknown error';
}

/** The line printed on stderr for any start failure (the last resort keeps its first line). */
export function startupFailureLine(error: unknown): string {
  if (error instanceof StartupFailure) return `authz: ${error.message}`;
  if (error instanceof ConfigError) return `authz: ${error.message.replace(/\n\s*/g, ' ')}`;
  return `authz: failed to start: ${firstLine(error)}`;
}
