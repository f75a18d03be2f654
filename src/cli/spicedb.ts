import type { SpiceDbConnection } from '../spicedb/connection.js';
import { UsageError } from './io.js';

/** The SpiceDB the operator commands talk to, validated as the service validates it. */
export async function spiceDbSettings(env: NodeJS.ProcessEnv) {
  // Loaded here, not at the top: zod is most of a CLI start's cost.
  const { ConfigError, loadEnv } = await import('../config/env.js');
  // Only SpiceDB's variables: an unrelated service setting must not stop an operator task.
  const own = Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith('SPICEDB_')));
  let parsed;
  try {
    parsed = loadEnv(own);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message.replace(/\n\s*/g, ' '));
    throw error;
  }
  if (parsed.SPICEDB_ENDPOINT === undefined || parsed.SPICEDB_TOKEN === undefined) {
    throw new UsageError(
      'set SPICEDB_ENDPOINT (host:port) and SPICEDB_TOKEN (its preshared key), and SPICEDB_INSECURE=true for plaintext, to name the SpiceDB server',
    );
  }
  return {
    endpoint: parsed.SPICEDB_ENDPOINT,
    token: parsed.SPICEDB_TOKEN,
    insecure: parsed.SPICEDB_INSECURE,
    timeoutMs: parsed.SPICEDB_TIMEOUT_MS,
  };
}

export async function connectSpiceDbFromEnv(env: NodeJS.ProcessEnv): Promise<{
  connection: SpiceDbConnection;
  settings: Awaited<ReturnType<typeof spiceDbSettings>>;
}> {
  const settings = await spiceDbSettings(env);
  const { connectRemote } = await import('../spicedb/connection.js');
  return { connection: connectRemote(settings), settings };
}
