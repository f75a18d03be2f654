import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFINITIONS } from '../../src/authz/schema.generated.js';
import { WatchScope, type SchemaDefinitions } from '../../src/authz/watch-scope.js';
import { SCHEMA_PATH } from '../../src/spicedb/connection.js';
import { v1 } from '../../src/spicedb/proto.js';
import { definitionsOf } from '../support/schema-definitions.js';
import { freshSpiceDb } from '../support/spicedb.js';

const SCHEMA = readFileSync(SCHEMA_PATH, 'utf8');

/** Usersets, wildcards, recursion, functional arrows, exclusion and expiration in one schema. */
const RICH_SCHEMA = `use expiration

definition user {}

definition group {
  relation member: user | group#member | user with expiration
}

definition folder {
  relation parent: folder
  relation viewer: user | user:* | group#member
  permission view = viewer + parent->view
  permission view_any = parent.any(view)
}

definition doc {
  relation folder: folder
  relation banned: user
  permission read = folder->view - banned
  permission edit = folder.all(view) & banned
}
`;

async function expectSameAsSpiceDb(schema: string, definitions: SchemaDefinitions) {
  const connection = await freshSpiceDb(schema);
  const client = connection.client;
  expect(client, 'DependentRelations needs a SpiceDB server').toBeDefined();
  const scope = new WatchScope(definitions);
  try {
    for (const [type, definition] of Object.entries(definitions)) {
      for (const permission of Object.keys(definition.permissions)) {
        const response = await client!.promises.dependentRelations(
          v1.DependentRelationsRequest.create({ definitionName: type, permissionName: permission }),
        );
        const fromSpiceDb = response.relations
          .filter((r) => !r.isPermission)
          .map((r) => `${r.definitionName}#${r.relationName}`)
          .sort();
        const derived = [...scope.dependencies(type, permission)].sort();
        expect(derived, `${type}#${permission}`).toEqual(fromSpiceDb);
      }
    }
  } finally {
    connection.close();
  }
}

describe('the watch scope derived from schema.zed', () => {
  it("names exactly the relations SpiceDB's DependentRelations reports, for every permission", async () => {
    await expectSameAsSpiceDb(SCHEMA, DEFINITIONS);
  });

  it('agrees with SpiceDB on usersets, recursion, functional arrows and exclusion too', async () => {
    await expectSameAsSpiceDb(RICH_SCHEMA, definitionsOf(RICH_SCHEMA));
  });

  it('narrows by subject only through leaf types, and by resource only off cycles', () => {
    const scope = new WatchScope(definitionsOf(RICH_SCHEMA));
    expect(scope.usesExpiration).toBe(true);
    const direct = scope.affected({
      operation: 'delete',
      resource: { type: 'doc', id: 'd1' },
      relation: 'banned',
      subject: { type: 'user', id: 'alice' },
    });
    expect([...direct.permissions].sort()).toEqual(['doc#edit', 'doc#read']);
    expect(direct).toMatchObject({ subject: 'user:alice', sameTypeResourceId: 'd1' });
    // folder reaches folder (parent): a change on f1 may change f2's answers.
    const recursive = scope.affected({
      operation: 'touch',
      resource: { type: 'folder', id: 'f1' },
      relation: 'viewer',
      subject: { type: 'group', id: 'g1', relation: 'member' },
    });
    expect(recursive.subject).toBeUndefined();
    expect(recursive.sameTypeResourceId).toBeUndefined();
    const wildcard = scope.affected({
      operation: 'touch',
      resource: { type: 'folder', id: 'f1' },
      relation: 'viewer',
      subject: { type: 'user', id: '*' },
    });
    expect(wildcard.subject).toBeUndefined();
    const match = (resource: string, permission: string, subjectKey: string) => {
      const [type = '', id = ''] = resource.split(':');
      return WatchScope.matches(direct, { resource: { type, id }, permission, subjectKey });
    };
    expect(match('doc:d1', 'read', 'user:alice')).toBe(true);
    expect(match('doc:d2', 'read', 'user:alice')).toBe(false);
    expect(match('doc:d1', 'read', 'user:bob')).toBe(false);
    expect(match('folder:d1', 'view', 'user:alice')).toBe(false);
  });
});
