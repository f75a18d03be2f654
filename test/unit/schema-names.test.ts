import { readFileSync } from 'node:fs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { inferRouterInputs } from '@trpc/server';
import { EXPECTED } from '../../testkit/matrix.js';
import {
  INTERNAL_PERMISSIONS,
  PUBLIC_PERMISSIONS,
  RELATIONS,
  RESOURCE_TYPES,
  type Permission,
  type PublicPermission,
  type QualifiedPermission,
} from '../../src/authz/schema.js';
import { SCHEMA_PATH } from '../../src/spicedb/connection.js';
import type { AppRouter } from '../../src/trpc/routers/_app.js';

interface ParsedDefinition {
  relations: Record<string, string[]>;
  permissions: Record<string, { expression: string; doc: string }>;
}

/**
 * A small reader of schema.zed: definitions, their relations (with subject types) and their
 * permissions, each with the doc comment right above it. Enough for this schema's syntax.
 */
function parseSchema(text: string): Record<string, ParsedDefinition> {
  const definitions: Record<string, ParsedDefinition> = {};
  const definitionPattern = /definition\s+(\w+)\s*\{([\s\S]*?)\n\}/g;
  for (const [, name, body] of text.matchAll(definitionPattern)) {
    if (name === undefined || body === undefined) continue;
    const definition: ParsedDefinition = { relations: {}, permissions: {} };
    let pendingDoc = '';
    const statement =
      /\/\*\*([\s\S]*?)\*\/|\/\/[^\n]*|relation\s+(\w+)\s*:\s*([^\n]+)|permission\s+(\w+)\s*=\s*([^\n]+)/g;
    for (const match of body.matchAll(statement)) {
      const [, doc, relation, subjects, permission, expression] = match;
      if (doc !== undefined) {
        pendingDoc = doc
          .replace(/^\s*\*\s?/gm, '')
          .replace(/\s+/g, ' ')
          .trim();
      } else if (relation !== undefined && subjects !== undefined) {
        definition.relations[relation] = subjects.split('|').map((s) => s.trim());
        pendingDoc = '';
      } else if (permission !== undefined && expression !== undefined) {
        definition.permissions[permission] = { expression: expression.trim(), doc: pendingDoc };
        pendingDoc = '';
      }
    }
    definitions[name] = definition;
  }
  return definitions;
}

const schema = parseSchema(readFileSync(SCHEMA_PATH, 'utf8'));

/**
 * The seed row each public permission encodes (the contract's permission table): the doc comment
 * above the permission in schema.zed must name it.
 */
const SEED_ROWS: { [T in keyof typeof PUBLIC_PERMISSIONS]: Record<PublicPermission<T>, string> } = {
  organization: {
    read_settings: 'Organization settings: Read',
    write_settings: 'Organization settings: Write',
    read_billing: 'Billing: Read',
    write_billing: 'Billing: Write',
    read_projects: 'Projects: Read',
    create_project: 'Projects: Create',
    read_members: 'Members: Read',
    invite_member: 'Members: Invite',
    remove_member: 'Members: Remove',
    manage_roles: 'Members: Manage roles',
    view_name: 'External Collaborators',
  },
  project: {
    read_settings: 'Project settings: Read',
    write_settings: 'Project settings: Write',
    read_cost_analytics: 'Project cost analytics',
    read_api_keys: 'API keys: Read',
    create_api_key: 'API keys: Create',
    revoke_api_key: 'API keys: Revoke',
    read_collaborators: 'Collaborators: Read',
    add_collaborator: 'Collaborators: Add',
    remove_collaborator: 'Collaborators: Remove',
    manage_roles: 'Collaborators: Manage roles',
    view_name: 'Projects list',
    create_cluster: 'Create clusters',
    create_volume: 'Create and resize volumes',
    use_fine_tuning: 'Fine-Tuning',
    use_endpoints: 'Endpoints',
    use_serverless_inference: 'Serverless Inference',
  },
  cluster: {
    delete: 'Delete clusters',
    scale: 'Scale clusters',
    modify_config: 'Modify cluster configurations',
    view: 'View cluster status and details',
    ssh: 'SSH into cluster nodes',
    run_kubectl: 'Run Kubernetes workloads (kubectl)',
    access_dashboard: 'Access Kubernetes Dashboard',
    submit_slurm_job: 'Submit Slurm jobs',
  },
  volume: {
    resize: 'Create and resize volumes',
    view: 'View volume details',
    read_write: 'Read and write to volumes',
  },
  user: { view_profile: 'View their own profile settings' },
};

describe('src/authz/schema.ts names exactly what schema.zed defines', () => {
  it('has the same resource types as the definitions', () => {
    expect(Object.keys(schema).sort()).toEqual([...RESOURCE_TYPES].sort());
  });

  it.each(RESOURCE_TYPES)(
    '%s: public + internal permissions are the definition’s permissions',
    (type) => {
      const definition = schema[type];
      const declared = [...PUBLIC_PERMISSIONS[type], ...INTERNAL_PERMISSIONS[type]] as string[];
      expect(new Set(declared).size).toBe(declared.length);
      expect([...declared].sort()).toEqual(Object.keys(definition?.permissions ?? {}).sort());
    },
  );

  it.each(RESOURCE_TYPES)('%s: relations and their subject types match', (type) => {
    const definition = schema[type];
    const expected = Object.fromEntries(
      Object.entries(RELATIONS[type]).map(([relation, subject]) => [relation, [subject]]),
    );
    expect(definition?.relations).toEqual(expected);
  });

  it('holds the relations the contract names, with those subject types', () => {
    const contract: Array<[string, string, string]> = [
      ['organization', 'owner', 'user'],
      ['organization', 'admin', 'user'],
      ['organization', 'member', 'user'],
      ['project', 'organization', 'organization'],
      ['project', 'admin', 'user'],
      ['project', 'member', 'user'],
      ['cluster', 'project', 'project'],
      ['volume', 'project', 'project'],
    ];
    for (const [type, relation, subject] of contract) {
      expect(schema[type]?.relations[relation], `${type}#${relation}`).toEqual([subject]);
    }
  });

  it.each(RESOURCE_TYPES.flatMap((type) => PUBLIC_PERMISSIONS[type].map((p) => ({ type, p }))))(
    '$type#$p carries a doc comment naming its seed row',
    ({ type, p }) => {
      const doc = schema[type]?.permissions[p]?.doc ?? '';
      const row = (SEED_ROWS[type] as Record<string, string>)[p];
      expect(row, `SEED_ROWS lacks ${type}#${p}`).toBeDefined();
      expect(doc).toContain(row);
    },
  );

  it('matrix.ts covers every public permission but user#view_profile, nothing more', () => {
    for (const type of RESOURCE_TYPES) {
      if (type === 'user') continue;
      expect(Object.keys(EXPECTED[type]).sort()).toEqual([...PUBLIC_PERMISSIONS[type]].sort());
    }
  });
});

describe('permission names are types', () => {
  it('accepts every declared type#permission and rejects typos at compile time', () => {
    const ok: QualifiedPermission = 'cluster#ssh';
    // @ts-expect-error: a misspelt permission does not compile.
    const typo: QualifiedPermission = 'cluster#sssh';
    // @ts-expect-error: a permission of another type does not compile either.
    const wrongType: QualifiedPermission = 'volume#ssh';
    // @ts-expect-error: internal permissions are not part of the public surface.
    const internal: PublicPermission<'organization'> = 'admin_role';
    const internalOk: Permission<'organization'> = 'admin_role';
    expect([ok, typo, wrongType, internal, internalOk]).toHaveLength(5);
    expectTypeOf<'project#view_name'>().toExtend<QualifiedPermission>();
    expectTypeOf<'project#fly'>().not.toExtend<QualifiedPermission>();
  });

  it('reaches a frontend through AppRouter: a typo’d permission in authz.check does not compile', () => {
    type CheckInput = inferRouterInputs<AppRouter>['authz']['check'];
    const valid: CheckInput = { resource: 'cluster:c1', permission: 'ssh' };
    // @ts-expect-error: the router's input type knows the permission names.
    const typo: CheckInput = { resource: 'cluster:c1', permission: 'sssh' };
    expect([valid, typo]).toHaveLength(2);
    expectTypeOf<CheckInput['permission']>().toEqualTypeOf<PublicPermission>();
  });
});
