import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveAccess, type LiveEvent } from '../../src/authz/live-access.js';
import { WatchScope } from '../../src/authz/watch-scope.js';
import type { SpiceDbConnection } from '../../src/spicedb/connection.js';
import { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { v1 } from '../../src/spicedb/proto.js';
import { RelationshipWatch } from '../../src/spicedb/watch.js';
import { definitionsOf } from '../support/schema-definitions.js';
import { freshSpiceDb } from '../support/spicedb.js';

/** A schema of this suite's own: the relation that grants may expire. */
const SCHEMA = `use expiration

definition user {}

definition doc {
  relation viewer: user | user with expiration
  permission view = viewer
}
`;

function grant(docId: string, userId: string, expiresAt?: Date): v1.RelationshipUpdate {
  return v1.RelationshipUpdate.create({
    operation: v1.RelationshipUpdate_Operation.TOUCH,
    relationship: v1.Relationship.create({
      resource: v1.ObjectReference.create({ objectType: 'doc', objectId: docId }),
      relation: 'viewer',
      subject: v1.SubjectReference.create({
        object: v1.ObjectReference.create({ objectType: 'user', objectId: userId }),
      }),
      ...(expiresAt
        ? {
            optionalExpiresAt: {
              seconds: String(Math.floor(expiresAt.getTime() / 1000)),
              nanos: (expiresAt.getTime() % 1000) * 1e6,
            },
          }
        : {}),
    }),
  });
}

describe('authz.watch and relationships that expire by themselves', () => {
  let connection: SpiceDbConnection;
  let gateway: SpiceDbGateway;
  let live: LiveAccess;

  beforeAll(async () => {
    connection = await freshSpiceDb(SCHEMA);
    gateway = new SpiceDbGateway(connection, { timeoutMs: 10_000 });
    live = new LiveAccess({
      watch: new RelationshipWatch(connection.api),
      scope: new WatchScope(definitionsOf(SCHEMA)),
      check: (item, consistency) => gateway.check(item, consistency),
    });
  });
  afterAll(() => {
    live?.close();
    connection?.close();
  });

  it('flips at the expiry, though SpiceDB writes nothing then and Watch stays silent', async () => {
    const abort = new AbortController();
    const events: LiveEvent[] = [];
    const stream = live.open(
      'ann',
      [
        {
          resource: { type: 'doc', id: 'd1' },
          permission: 'view',
          subject: { type: 'user', id: 'ann' },
        },
      ],
      abort.signal,
    );
    const next = async () => {
      const result = await stream.next();
      if (result.done) throw new Error('the stream ended');
      events.push(result.value);
      return result.value;
    };
    expect((await next()).allowed).toBe(false);
    const watchBatches = live.watch.counters.batches;
    const expiresAt = new Date(Date.now() + 2_000);
    await gateway.write([grant('d1', 'ann', expiresAt)]);
    expect(await next()).toMatchObject({ resource: 'doc:d1', allowed: true });
    const revoked = await next();
    expect(revoked.allowed).toBe(false);
    // The flip came from the expiry timer: the only Watch batch was the grant's write.
    expect(live.watch.counters.batches).toBe(watchBatches + 1);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt.getTime());
    abort.abort();
    await stream.return(undefined);
  });
});
