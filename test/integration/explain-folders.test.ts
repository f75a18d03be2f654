import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { explainPermission } from '../../src/authz/explain.js';
import type { SpiceDbConnection } from '../../src/spicedb/connection.js';
import { startEmbedded } from '../../src/spicedb/embedded.js';
import { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { touch, type RelationshipTuple } from '../../src/spicedb/proto.js';
import { definitionsOf } from '../support/schema-definitions.js';
import { freshSpiceDb, testTarget } from '../support/spicedb.js';

/**
 * authz.explain's engine on a schema unlike ours (test/fixtures/schema/explain-folders.zed):
 * nested groups, arrows through two levels, an exclusion and intersections. Each test writes
 * its own relationships into a SpiceDB of its own: a fresh serve-testing key on the test
 * server, and the embedded SpiceDB (`npm start` without SPICEDB_ENDPOINT) too.
 *
 *   group:eng#member@user:ann, group:staff#member@group:eng#member, group:staff#member@user:bea
 *   folder:root#viewer@group:staff#member, folder:leaf#parent@folder:root,
 *   folder:leaf#banned@user:bea, document:spec#folder@folder:leaf,
 *   document:spec#editor@user:{ann,bea,cat}, document:draft#editor@user:ann (no folder)
 */
const SCHEMA = readFileSync(
  new URL('../fixtures/schema/explain-folders.zed', import.meta.url),
  'utf8',
);
const DEFINITIONS = definitionsOf(SCHEMA);

const RELATIONSHIPS = [
  'group:eng#member@user:ann',
  'group:staff#member@group:eng#member',
  'group:staff#member@user:bea',
  'folder:root#viewer@group:staff#member',
  'folder:leaf#parent@folder:root',
  'folder:leaf#banned@user:bea',
  'document:spec#folder@folder:leaf',
  'document:spec#editor@user:ann',
  'document:spec#editor@user:bea',
  'document:spec#editor@user:cat',
  'document:draft#editor@user:ann',
];

function tupleOf(text: string): RelationshipTuple {
  const [resource = '', subject = ''] = text.split('@');
  const [object = '', relation = ''] = resource.split('#');
  const [resourceType = '', resourceId = ''] = object.split(':');
  const [subjectObject = '', subjectRelation] = subject.split('#');
  const [subjectType = '', subjectId = ''] = subjectObject.split(':');
  return {
    resourceType,
    resourceId,
    relation,
    subjectType,
    subjectId,
    ...(subjectRelation ? { subjectRelation } : {}),
  };
}

const SPICEDBS: Array<[string, () => Promise<SpiceDbConnection>]> = [
  [testTarget().mode === 'server' ? 'a SpiceDB server' : 'embedded', () => freshSpiceDb(SCHEMA)],
  ['the embedded SpiceDB', () => startEmbedded(SCHEMA)],
];

describe.each(SPICEDBS)('explain on a second schema, %s', (_name, connect) => {
  async function explain(resource: string, permission: string, user: string) {
    const connection = await connect();
    try {
      const gateway = new SpiceDbGateway(connection, { timeoutMs: 10_000 });
      await gateway.write(RELATIONSHIPS.map((r) => touch(tupleOf(r))));
      const [type = '', id = ''] = resource.split(':');
      return await explainPermission(
        gateway,
        { resource: { type, id }, permission, subject: { type: 'user', id: user } },
        { kind: 'fullyConsistent' },
        DEFINITIONS,
      );
    } finally {
      connection.close();
    }
  }

  it('follows an intersection, two arrows and two nested groups to the relation that grants', async () => {
    const answer = await explain('document:spec', 'edit', 'ann');
    expect(answer).toMatchObject({ allowed: true, missing: [] });
    expect(answer.path).toEqual([
      'user:ann',
      '(document:spec#editor & group:eng#member → group:staff#member → folder:root#viewer → folder:leaf#view)',
      'document:spec#edit',
    ]);
    expect(answer.relationships.sort()).toEqual([
      'document:spec#editor@user:ann',
      'document:spec#folder@folder:leaf',
      'folder:leaf#parent@folder:root',
      'folder:root#viewer@group:staff#member',
      'group:eng#member@user:ann',
      'group:staff#member@group:eng#member',
    ]);
    expect(answer.rules).toEqual([
      'document#edit = editor & folder->view',
      // As SpiceDB's generator prints it: `-` binds loosest.
      'folder#view = viewer + parent->view - banned',
    ]);
    expect(answer.explanation).toContain('group:eng#member is the member of group:staff');
  });

  it('names the exclusion that refuses a banned editor who can see the folder above', async () => {
    const answer = await explain('document:spec', 'edit', 'bea');
    expect(answer).toMatchObject({ allowed: false, path: [], relationships: [] });
    expect(answer.missing).toEqual([
      'not folder:leaf#banned',
      'folder:leaf#viewer & not folder:leaf#banned',
    ]);
    expect(answer.explanation).toContain(
      'not folder:leaf#banned (with document:spec#editor & folder:root#view, which it holds)',
    );
  });

  it('names every relation on the way that would let an editor who sees no folder edit', async () => {
    const answer = await explain('document:spec', 'edit', 'cat');
    expect(answer.allowed).toBe(false);
    // A viewer of either folder, a member of a group that views, or a parent for the root.
    expect(answer.missing).toEqual([
      'folder:leaf#viewer',
      'folder:root#parent',
      'folder:root#viewer',
      'group:eng#member',
      'group:staff#member',
    ]);
    expect(answer.explanation).toContain('(with document:spec#editor, which it holds)');
  });

  it('names the missing tupleset of an arrow and both parts of an intersection it lacks', async () => {
    const draft = await explain('document:draft', 'edit', 'ann');
    expect(draft).toMatchObject({ allowed: false, missing: ['document:draft#folder'] });
    const publish = await explain('document:spec', 'publish', 'ann');
    expect(publish.allowed).toBe(false);
    expect(publish.missing).toEqual(['document:spec#approver']);
    expect(publish.rules).toContain('document#publish = edit & approver');
  });
});
