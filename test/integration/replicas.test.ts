import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices, ensureSchema } from '../../src/app.js';
import { createAuthzClient, type AuthzClient } from '../../src/client.js';
import { createHttpServer } from '../../src/server.js';
import { connectRemote } from '../../src/spicedb/connection.js';
import type { Services } from '../../src/trpc/context.js';
import { testEnv } from '../support/app.js';
import { tokenFor } from '../../testkit/tokens.js';
import { postgresAvailable } from '../../testkit/postgres.js';
import { requireSpiceDbBinary } from '../../testkit/spicedb-binary.js';
import { startSpiceDb, type SpiceDbProcess } from '../../testkit/spicedb-process.js';

/**
 * Two service instances, each with its own gateway and gRPC connection, in front of ONE
 * `spicedb serve` on PostgreSQL with a 5 s revision quantization window: a read without a
 * token on the instance that did not write is served from a quantized (older) revision. A
 * caller who writes through one and reads through the other with the returned ZedToken
 * (`atLeastAsFresh`) must see the write, every round.
 */
const QUANTIZATION = '5s';
const ROUNDS = 40;

// A missing part fails the suite (never a skip).
const binary = requireSpiceDbBinary();
if (!postgresAvailable())
  throw new Error('the replicas test needs PostgreSQL (PG_URL or 127.0.0.1:5432)');

interface Replica {
  services: Services;
  server: http.Server;
  url: string;
}

async function startReplica(endpoint: string, key: string): Promise<Replica> {
  const connection = connectRemote({ endpoint, token: key, insecure: true });
  const services = createServices(testEnv(), connection);
  const server = createHttpServer(services, { webRoot: false });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { services, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('two service replicas on one SpiceDB (PostgreSQL)', () => {
  let spicedb: SpiceDbProcess | undefined;
  let a: Replica;
  let b: Replica;

  beforeAll(async () => {
    spicedb = await startSpiceDb({
      datastore: 'postgres',
      binary,
      databasePrefix: 'spicedb_ops_replicas',
      quantization: QUANTIZATION,
    });
    a = await startReplica(spicedb.endpoint, spicedb.token);
    b = await startReplica(spicedb.endpoint, spicedb.token);
    expect(await ensureSchema(a.services.spicedb)).toBe('written');
    // B may not see A's schema yet (ReadSchema is served within the quantization window too),
    // then writes the same text again: harmless, and what a second replica starting does.
    await ensureSchema(b.services.spicedb);
  }, 90_000);

  afterAll(async () => {
    for (const replica of [a, b]) {
      if (!replica) continue;
      await new Promise<void>((resolve) => replica.server.close(() => resolve()));
      replica.services.spicedb.close();
    }
    await spicedb?.stop();
  });

  const clientOf = async (
    replica: Replica,
    userId: string,
    scope?: string,
  ): Promise<AuthzClient> => {
    const token = await tokenFor(userId, scope ? { scope } : {});
    return createAuthzClient({ url: replica.url, getToken: () => token });
  };

  it(`read-your-writes across replicas with the ZedToken, ${ROUNDS} rounds`, async () => {
    const writer = await clientOf(a, 'alice');
    const reader = await clientOf(b, 'alice');
    const backendReader = await clientOf(b, 'checker', 'authz:check');
    await writer.org.create.mutate({ orgId: 'acme' });

    let staleWithoutToken = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      const userId = `member-${round}`;
      const { zedToken } = await writer.org.addMember.mutate({
        orgId: 'acme',
        userId,
        role: 'member',
      });
      expect(zedToken).not.toBe('');
      const question = {
        resource: 'organization:acme',
        permission: 'read_settings',
        subject: `user:${userId}`,
      } as const;

      // Control: replica B has not seen this write; without a token it may answer from an
      // older, quantized revision. Counted, not asserted per round.
      const untokened = await backendReader.authz.check.query(question);
      if (!untokened.allowed) staleWithoutToken += 1;

      const fresh = { atLeastAsFresh: zedToken };
      const checked = await backendReader.authz.check.query({ ...question, consistency: fresh });
      expect(checked.allowed, `round ${round}: check with the token`).toBe(true);
      const { members } = await reader.org.listMembers.query({ orgId: 'acme', consistency: fresh });
      expect(members, `round ${round}: listMembers with the token`).toContainEqual({
        userId,
        role: 'member',
      });
    }
    console.log(
      `[replicas] ${ROUNDS} rounds: every token read saw its write; ${staleWithoutToken} reads without the token were stale`,
    );
    // The quantization window was real: without the token, replica B served older revisions.
    expect(staleWithoutToken).toBeGreaterThan(0);
  }, 120_000);

  it('a removal through B is seen through A with B’s token', async () => {
    const viaB = await clientOf(b, 'alice');
    const viaA = await clientOf(a, 'checker', 'authz:check');
    const { zedToken } = await viaB.org.removeMember.mutate({ orgId: 'acme', userId: 'member-0' });
    const answer = await viaA.authz.check.query({
      resource: 'organization:acme',
      permission: 'read_settings',
      subject: 'user:member-0',
      consistency: { atLeastAsFresh: zedToken },
    });
    expect(answer.allowed).toBe(false);
  });
});
