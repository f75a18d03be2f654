import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { inferRouterInputs } from '@trpc/server';
import { EXPECTED } from '../../testkit/matrix.js';
import {
  INTERNAL_PERMISSIONS,
  PUBLIC_PERMISSIONS,
  RESOURCE_TYPES,
  allowedSubjectTypes,
  permissionExpression,
  type Permission,
  type PublicPermission,
  type QualifiedPermission,
} from '../../src/authz/schema.js';
import { DEFINITIONS } from '../../src/authz/schema.generated.js';
import { SpiceDbGateway } from '../../src/spicedb/gateway.js';
import type { v1 } from '../../src/spicedb/proto.js';
import type { AppRouter } from '../../src/trpc/routers/_app.js';
import {
  GENERATED_MODULE,
  compileSchema,
  generateSchemaModule,
  type CompiledSchema,
} from '../../scripts/schema/generate.js';
import { freshSpiceDb } from '../support/spicedb.js';

const GROUPS_SCHEMA = fileURLToPath(new URL('../fixtures/schema/groups.zed', import.meta.url));
// devvalidate is built by scripts/playground/devvalidate/ensure.sh the first time (minutes).
const BUILD_TIMEOUT = 900_000;

describe('src/authz/schema.generated.ts', () => {
  it(
    'is current: `npm run schema:gen` on schema.zed writes exactly the committed file',
    async () => {
      const committed = readFileSync(GENERATED_MODULE, 'utf8');
      expect(await generateSchemaModule(), 'run `npm run schema:gen` and commit the result').toBe(
        committed,
      );
    },
    BUILD_TIMEOUT,
  );

  it(
    'reads what SpiceDB reads in a schema unlike ours: subject sets, wildcards, caveats, expiration, precedence',
    () => {
      const schema = compileSchema(GROUPS_SCHEMA);
      const definition = (name: string) => schema.definitions.find((d) => d.name === name);
      expect(definition('team')?.relations).toEqual([
        {
          name: 'member',
          comment: '',
          subjectTypes: [
            { type: 'user' },
            { type: 'team', relation: 'member' },
            { type: 'user', expiration: true },
          ],
        },
      ]);
      expect(
        definition('folder')?.relations.find((r) => r.name === 'viewer')?.subjectTypes,
      ).toEqual([
        { type: 'user' },
        { type: 'user', wildcard: true },
        { type: 'team', relation: 'member' },
        { type: 'user', caveat: 'on_network' },
      ]);
      // SpiceDB's generator writes expressions back with its precedence (+ before & before -).
      expect(definition('folder')?.permissions).toEqual([
        {
          name: 'view',
          comment: 'viewers of this folder or of any folder above it, unless banned',
          expression: 'viewer + parent->view - banned',
          tree: {
            op: 'exclusion',
            base: {
              op: 'union',
              parts: [
                { op: 'computed', name: 'viewer' },
                { op: 'arrow', tupleset: 'parent', target: 'view', all: false },
              ],
            },
            minus: { op: 'computed', name: 'banned' },
          },
        },
      ]);
      expect(
        definition('document')?.permissions.map((p) => [p.name, p.expression, p.comment]),
      ).toEqual([
        ['edit', 'editor & folder->view', 'a line comment is a comment too'],
        ['review', 'reviewer & editor + folder->view', ''],
      ]);
      // And as the tree SpiceDB compiled: `&` of `reviewer` and the union.
      expect(definition('document')?.permissions.find((p) => p.name === 'review')?.tree).toEqual({
        op: 'intersection',
        parts: [
          { op: 'computed', name: 'reviewer' },
          {
            op: 'union',
            parts: [
              { op: 'computed', name: 'editor' },
              { op: 'arrow', tupleset: 'folder', target: 'view', all: false },
            ],
          },
        ],
      });
      expect(schema.caveats).toEqual([
        {
          name: 'on_network',
          comment: "the caller's network must be inside one of the allowed ranges",
          parameters: [
            { name: 'allowed', type: 'list<string>' },
            { name: 'caller', type: 'ipaddress' },
          ],
        },
      ]);
    },
    BUILD_TIMEOUT,
  );

  it('refuses a schema SpiceDB refuses, with SpiceDB’s message and position', () => {
    const broken = fileURLToPath(new URL('../fixtures/schema/broken.zed', import.meta.url));
    expect(() => compileSchema(broken)).toThrow(
      'broken.zed:5:29: relation/permission `editor` not found under definition `document`',
    );
  });
});

describe('the generated module agrees with a running SpiceDB’s ReflectSchema', () => {
  async function reflect(schemaPath: string): Promise<v1.ReflectSchemaResponse> {
    const connection = await freshSpiceDb(readFileSync(schemaPath, 'utf8'));
    try {
      return await new SpiceDbGateway(connection, { timeoutMs: 10_000 }).reflectSchema();
    } finally {
      connection.close();
    }
  }

  /** The parts ReflectSchema reports, from the development package's compilation. */
  const comparable = (schema: CompiledSchema) =>
    schema.definitions
      .map((d) => ({
        name: d.name,
        relations: d.relations.map((r) => ({
          name: r.name,
          subjectTypes: r.subjectTypes.map((t) => ({
            type: t.type,
            relation: t.relation ?? '',
            wildcard: t.wildcard ?? false,
            caveat: t.caveat ?? '',
          })),
        })),
        permissions: d.permissions.map((p) => p.name).sort(),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));

  const fromReflection = (response: v1.ReflectSchemaResponse) =>
    response.definitions
      .map((d) => ({
        name: d.name,
        relations: d.relations.map((r) => ({
          name: r.name,
          subjectTypes: r.subjectTypes.map((t) => ({
            type: t.subjectDefinitionName,
            relation:
              t.typeref.oneofKind === 'optionalRelationName' ? t.typeref.optionalRelationName : '',
            wildcard: t.typeref.oneofKind === 'isPublicWildcard',
            caveat: t.optionalCaveatName,
          })),
        })),
        permissions: d.permissions.map((p) => p.name).sort(),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));

  it.each([
    ['schema.zed', fileURLToPath(new URL('../../schema.zed', import.meta.url))],
    ['groups.zed', GROUPS_SCHEMA],
  ])(
    '%s: the same definitions, relations, subject types and permissions',
    async (_name, schemaPath) => {
      const response = await reflect(schemaPath);
      expect(comparable(compileSchema(schemaPath))).toEqual(fromReflection(response));
    },
    BUILD_TIMEOUT,
  );
});

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

describe('schema.ts names what the contract names', () => {
  it('splits every permission into public and internal, each once', () => {
    for (const type of RESOURCE_TYPES) {
      const declared = [...PUBLIC_PERMISSIONS[type], ...INTERNAL_PERMISSIONS[type]] as string[];
      expect(declared.sort()).toEqual(Object.keys(DEFINITIONS[type].permissions).sort());
    }
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
      expect(
        allowedSubjectTypes(type, relation).map((t) => t.type),
        `${type}#${relation}`,
      ).toContain(subject);
    }
  });

  it.each(RESOURCE_TYPES.flatMap((type) => PUBLIC_PERMISSIONS[type].map((p) => ({ type, p }))))(
    '$type#$p carries a doc comment naming its seed row',
    ({ type, p }) => {
      const permissions: Record<string, { comment: string }> = DEFINITIONS[type].permissions;
      const row = (SEED_ROWS[type] as Record<string, string>)[p];
      expect(row, `SEED_ROWS lacks ${type}#${p}`).toBeDefined();
      expect(permissions[p]?.comment).toContain(row);
    },
  );

  it('gives each permission’s expression, none for what is not a permission', () => {
    expect(permissionExpression('project', 'admin_role')).toBe(
      'admin + (member & organization->admin_role)',
    );
    expect(permissionExpression('cluster', 'ssh')).toBe('project->collaborator');
    expect(permissionExpression('cluster', 'project')).toBeUndefined();
    expect(permissionExpression('galaxy', 'ssh')).toBeUndefined();
  });

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
