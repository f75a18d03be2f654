import { loadEnv } from '../../src/config/env.js';
import { connectRemote, type SpiceDbConnection } from '../../src/spicedb/connection.js';
import { startEmbedded } from '../../src/spicedb/embedded.js';
import { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { findSpiceDbBinary } from '../../testkit/spicedb-binary.js';
import { startSpiceDb } from '../../testkit/spicedb-process.js';

export interface ScriptSpiceDb {
  connection: SpiceDbConnection;
  gateway: SpiceDbGateway;
  description: string;
  /** True when this process started it (and nothing else can hold data in it). */
  own: boolean;
  close(): Promise<void>;
}

const TIMEOUT_MS = 30_000;

/** The SpiceDB named by SPICEDB_ENDPOINT / SPICEDB_TOKEN / SPICEDB_INSECURE, if any. */
export function configuredSpiceDb(): ScriptSpiceDb | undefined {
  const env = loadEnv();
  if (env.SPICEDB_ENDPOINT === undefined) return undefined;
  const connection = connectRemote({
    endpoint: env.SPICEDB_ENDPOINT,
    token: env.SPICEDB_TOKEN ?? '',
    insecure: env.SPICEDB_INSECURE,
  });
  return {
    connection,
    gateway: new SpiceDbGateway(connection, { timeoutMs: TIMEOUT_MS }),
    description: connection.description,
    own: false,
    close: () => Promise.resolve(connection.close()),
  };
}

/**
 * An empty SpiceDB of this process: the pinned binary as `spicedb serve-testing` on a free
 * loopback port, else the embedded library (`schema` is written to it at start).
 */
export async function privateSpiceDb(schema: string): Promise<ScriptSpiceDb> {
  const binary = findSpiceDbBinary();
  if (binary !== undefined) {
    const server = await startSpiceDb({ datastore: 'testing', binary });
    const connection = server.connect();
    return {
      connection,
      gateway: new SpiceDbGateway(connection, { timeoutMs: TIMEOUT_MS }),
      description: `${binary} serve-testing at ${server.endpoint}`,
      own: true,
      close: async () => {
        connection.close();
        await server.stop();
      },
    };
  }
  const connection = await startEmbedded(schema);
  return {
    connection,
    gateway: new SpiceDbGateway(connection, { timeoutMs: TIMEOUT_MS }),
    description: connection.description,
    own: true,
    close: () => Promise.resolve(connection.close()),
  };
}

/** True when the server holds no relationship of any of `types`. */
export async function isEmpty(gateway: SpiceDbGateway, types: string[]): Promise<boolean> {
  for (const resourceType of types) {
    try {
      if (await gateway.exists({ resourceType }, { kind: 'fullyConsistent' })) return false;
    } catch {
      // A type the server's schema does not define holds nothing.
    }
  }
  return true;
}
