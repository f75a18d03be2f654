import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureSchema } from '../../src/app.js';
import { compareSchema, SchemaWriteRefused, writeSchema } from '../../src/authz/schema-admin.js';
import {
  connectRemote,
  readSchemaFile,
  type SpiceDbConnection,
} from '../../src/spicedb/connection.js';
import { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { touch } from '../../src/spicedb/proto.js';
import { testTarget } from '../support/spicedb.js';

/** A SpiceDB with nothing in it: a fresh serve-testing key on the suite's real server. */
function emptySpiceDb(): { connection: SpiceDbConnection; gateway: SpiceDbGateway } {
  const target = testTarget();
  if (target.mode !== 'server') throw new Error(`needs a real SpiceDB server: ${target.source}`);
  const connection = connectRemote({
    endpoint: target.endpoint,
    token: `schema-admin-${randomUUID()}`,
    insecure: true,
  });
  opened.push(connection);
  return { connection, gateway: new SpiceDbGateway(connection, { timeoutMs: 10_000 }) };
}
const opened: SpiceDbConnection[] = [];
afterEach(() => {
  for (const connection of opened.splice(0)) connection.close();
});

const DOCS = `definition user {}

definition document {
	relation viewer: user
	relation editor: user
	permission view = viewer + editor
}`;

describe('schema administration by SpiceDB’s DiffSchema and WriteSchema', () => {
  it('start-up writes schema.zed into an empty SpiceDB, and a second start finds it unchanged', async () => {
    const { gateway } = emptySpiceDb();
    expect(await ensureSchema(gateway)).toBe('written');
    expect(await ensureSchema(gateway)).toBe('unchanged');
    // Formatting is not a difference to SpiceDB: the same schema laid out otherwise is unchanged.
    const relaid = (await readSchemaFile()).replace(/\t/g, '    ').replace(/\n\n/g, '\n\n\n');
    expect(await ensureSchema(gateway, relaid)).toBe('unchanged');
    // A real change is written.
    expect(await ensureSchema(gateway, DOCS)).toBe('written');
  });

  it('diff names each difference as SpiceDB reports it, and an empty SpiceDB lacks every definition', async () => {
    const { gateway } = emptySpiceDb();
    // SpiceDB reports the differences in no fixed order.
    expect((await compareSchema(gateway, DOCS)).sort()).toEqual([
      '+ definition document',
      '+ definition user',
    ]);
    await writeSchema(gateway, DOCS);
    expect(await compareSchema(gateway, DOCS)).toEqual([]);
    const changed = DOCS.replace('relation editor: user', 'relation editor: user | user:*')
      .replace('permission view = viewer + editor', 'permission view = viewer')
      .replace('definition user {}', 'definition user {}\n\ndefinition team {}');
    expect((await compareSchema(gateway, changed)).sort()).toEqual(
      [
        '+ definition team',
        '+ relation document#editor allows user:*',
        '~ permission document#view: expression',
      ].sort(),
    );
  });

  it('write refuses a change that would orphan stored relationships, with SpiceDB’s message naming them', async () => {
    const { gateway } = emptySpiceDb();
    await writeSchema(gateway, DOCS);
    await gateway.write([
      touch({
        resourceType: 'document',
        resourceId: 'readme',
        relation: 'editor',
        subjectType: 'user',
        subjectId: 'alice',
      }),
    ]);
    const withoutEditor = DOCS.replace('\trelation editor: user\n', '').replace(' + editor', '');
    const refusal = await writeSchema(gateway, withoutEditor).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(SchemaWriteRefused);
    expect((refusal as SchemaWriteRefused).message).toContain(
      'cannot delete relation `editor` in object definition `document`, as at least one relationship exists under it: document:readme#editor@user:alice',
    );
    // Nothing was written: SpiceDB still holds the schema with the relation.
    expect(await compareSchema(gateway, DOCS)).toEqual([]);
  });
});
