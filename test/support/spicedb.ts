import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import {
  connectRemote,
  readSchemaFile,
  type SpiceDbConnection,
} from '../../src/spicedb/connection.js';
import { startEmbedded } from '../../src/spicedb/embedded.js';
import { SpiceDbGateway } from '../../src/spicedb/gateway.js';

export const testTarget = () => inject('spicedb');

/**
 * A SpiceDB of its own with schema.zed written: a fresh serve-testing key (its own datastore)
 * on the shared server, or a new embedded instance where no server could be had.
 */
export async function freshSpiceDb(schema?: string): Promise<SpiceDbConnection> {
  const target = testTarget();
  const text = schema ?? (await readSchemaFile());
  if (target.mode === 'embedded') return startEmbedded(text);
  const connection = connectRemote({
    endpoint: target.endpoint,
    token: `test-${randomUUID()}`,
    insecure: true,
  });
  const gateway = new SpiceDbGateway(connection, { timeoutMs: 10_000 });
  await gateway.writeSchema(text);
  return connection;
}
