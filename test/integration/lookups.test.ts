import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EXPECTED,
  PERSONAS,
  SAMPLE,
  SAMPLE_RESOURCE_ID,
  userOf,
  type Persona,
} from '../../testkit/matrix.js';
import {
  PUBLIC_PERMISSIONS,
  RESOURCE_TYPES,
  type PublicPermission,
  type ResourceType,
} from '../../src/authz/schema.js';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import type { TestApp } from '../support/app.js';
import { BACKEND_USER, buildSampleOrg } from '../support/sample-org.js';
import { anyPair, anyTypePair } from '../../testkit/check-pairs.js';

type Caller = Awaited<ReturnType<TestApp['as']>>;
const { orgId, projectId, otherProjectId } = SAMPLE;

/**
 * More objects than the sample holds, so that pages of 1 and 2 take several calls and some
 * resources are visible to a persona while their siblings are not.
 */
const EXTRA = {
  clustersInProject: ['acme_gpu2', 'acme_gpu3', 'acme_gpu4', 'acme_gpu5'],
  clustersInOther: ['acme_web_gpu1', 'acme_web_gpu2'],
  volumesInProject: ['acme_vol2', 'acme_vol3'],
  volumesInOther: ['acme_web_vol1'],
  projects: ['acme_p3', 'acme_p4', 'acme_p5'],
  /** A second organization the sample's personas have nothing to do with. */
  otherOrg: 'globex',
  otherOrgProject: 'globex_ml',
  otherOrgCluster: 'globex_gpu1',
} as const;

/** Every object of each type the test created: the universe a lookup chooses from. */
const UNIVERSE: Record<ResourceType, string[]> = {
  organization: [orgId, EXTRA.otherOrg],
  project: [projectId, otherProjectId, ...EXTRA.projects, EXTRA.otherOrgProject],
  cluster: [
    SAMPLE.clusterId,
    ...EXTRA.clustersInProject,
    ...EXTRA.clustersInOther,
    EXTRA.otherOrgCluster,
  ],
  volume: [SAMPLE.volumeId, ...EXTRA.volumesInProject, ...EXTRA.volumesInOther],
  user: [...PERSONAS.map(userOf), 'globex_owner'],
};

const pairs = RESOURCE_TYPES.flatMap((type) =>
  PUBLIC_PERMISSIONS[type].map((permission) => ({
    type,
    permission: permission,
  })),
);

let app: TestApp;
let backend: Caller;

/**
 * Reads every page of a lookup; fails on an id repeated within a page or a page over the limit.
 * SpiceDB answers once per path that grants a permission and its cursors cannot skip a path's
 * repeat in a later page, so across pages the result is compared as a set.
 */
async function lookupAllPages(
  caller: Caller,
  args: { resourceType: ResourceType; permission: PublicPermission; subject?: string },
  limit: number,
): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await caller.authz.lookupResources({
      ...args,
      ...anyTypePair(args.resourceType, args.permission),
      limit,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    pages += 1;
    expect(page.resourceIds.length).toBeLessThanOrEqual(limit);
    expect(new Set(page.resourceIds).size).toBe(page.resourceIds.length);
    ids.push(...page.resourceIds);
    cursor = page.cursor;
    if (pages > 50) throw new Error('lookupResources never ran out of pages');
  } while (cursor !== undefined);
  return { ids: [...new Set(ids)].sort(), pages };
}

/** The objects of `type` for which a check of `permission` says yes, for `userId`. */
async function allowedByChecks(
  type: ResourceType,
  permission: PublicPermission,
  userId: string,
): Promise<string[]> {
  const ids = UNIVERSE[type];
  const { results } = await backend.authz.checkBulk({
    items: ids.map((id) => ({
      ...anyPair(`${type}:${id}`, permission),
      subject: `user:${userId}`,
    })),
  });
  return ids.filter((_, index) => results[index]?.allowed === true).sort();
}

beforeAll(async () => {
  ({ app } = await buildSampleOrg());
  const owner = await app.as(userOf('owner'));
  for (const clusterId of EXTRA.clustersInProject)
    await owner.cluster.create({ projectId, clusterId });
  for (const clusterId of EXTRA.clustersInOther) {
    await owner.cluster.create({ projectId: otherProjectId, clusterId });
  }
  for (const volumeId of EXTRA.volumesInProject) await owner.volume.create({ projectId, volumeId });
  for (const volumeId of EXTRA.volumesInOther) {
    await owner.volume.create({ projectId: otherProjectId, volumeId });
  }
  for (const id of EXTRA.projects) await owner.project.create({ orgId, projectId: id });
  // A project admin (not the owner) brings an external into one extra project.
  await owner.project.addCollaborator({
    projectId: EXTRA.projects[0],
    userId: userOf('org_member_outside'),
    role: 'admin',
  });
  const globex = await app.as('globex_owner');
  await globex.org.create({ orgId: EXTRA.otherOrg });
  await globex.project.create({ orgId: EXTRA.otherOrg, projectId: EXTRA.otherOrgProject });
  await globex.cluster.create({
    projectId: EXTRA.otherOrgProject,
    clusterId: EXTRA.otherOrgCluster,
  });
  // The sample's external admin also collaborates with globex: lookups must span organizations.
  await globex.project.addCollaborator({
    projectId: EXTRA.otherOrgProject,
    userId: userOf('external_admin'),
  });
  backend = await app.as(BACKEND_USER, BACKEND_SCOPE);
});
afterAll(() => app.close());

describe('authz.lookupResources, paged to the end, equals the objects whose check is true', () => {
  const cases = PERSONAS.flatMap((persona) =>
    pairs.map(({ type, permission }) => ({ persona, type, permission })),
  );

  it.each(cases)('$persona: $type#$permission', async ({ persona, type, permission }) => {
    const caller = await app.as(userOf(persona));
    const expected = await allowedByChecks(type, permission, userOf(persona));
    // The matrix decides the sample's own object: lookups must agree with the seed, too.
    if (type !== 'user') {
      const holders = (EXPECTED[type] as Record<string, Persona[]>)[permission] ?? [];
      expect(expected.includes(SAMPLE_RESOURCE_ID[type])).toBe(holders.includes(persona));
    }
    const limit = persona.length % 2 === 0 ? 1 : 2;
    const paged = await lookupAllPages(caller, { resourceType: type, permission }, limit);
    expect(paged.ids).toEqual(expected);
    expect(paged.pages).toBeGreaterThanOrEqual(Math.ceil(expected.length / limit));
    // One large page answers the same, and so does a backend asking about the persona.
    const whole = await lookupAllPages(caller, { resourceType: type, permission }, 1000);
    expect(whole).toEqual({ ids: expected, pages: 1 });
    const forBackend = await lookupAllPages(
      backend,
      { resourceType: type, permission, subject: `user:${userOf(persona)}` },
      3,
    );
    expect(forBackend.ids).toEqual(expected);
  });

  it('finds objects across organizations for a collaborator of both', async () => {
    const external = await app.as(userOf('external_admin'));
    const { ids } = await lookupAllPages(
      external,
      { resourceType: 'cluster', permission: 'ssh' },
      2,
    );
    expect(ids).toEqual(
      [SAMPLE.clusterId, ...EXTRA.clustersInProject, EXTRA.otherOrgCluster].sort(),
    );
  });

  it('refuses a caller without the scope asking for another subject, and a bad cursor', async () => {
    const member = await app.as(userOf('org_member_in_project'));
    await expect(
      member.authz.lookupResources({
        resourceType: 'project',
        permission: 'read_settings',
        subject: `user:${userOf('owner')}`,
      }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(
      member.authz.lookupResources({
        resourceType: 'project',
        permission: 'read_settings',
        cursor: 'not-a-cursor',
      }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(
      member.authz.lookupResources({
        resourceType: 'project',
        permission: 'read_settings',
        limit: 0,
      }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

/** Who the matrix says holds `permission` on the sample object of `type`. */
function expectedHolders(type: ResourceType, id: string, permission: string): string[] {
  if (type === 'user') return [id];
  const holders = (EXPECTED[type] as Record<string, Persona[]>)[permission] ?? [];
  return holders.map(userOf).sort();
}

describe('authz.lookupSubjects on the sample objects equals the personas the matrix expects', () => {
  const cases = pairs.map(({ type, permission }) => ({
    type,
    permission,
    id: type === 'user' ? userOf('external_member') : SAMPLE_RESOURCE_ID[type],
  }));

  it.each(cases)('$type#$permission', async ({ type, id, permission }) => {
    const { subjectIds } = await backend.authz.lookupSubjects(anyPair(`${type}:${id}`, permission));
    expect([...subjectIds].sort()).toEqual(expectedHolders(type, id, permission));
  });

  it('equals the users whose check is true on every object of the universe', async () => {
    const users = UNIVERSE.user;
    for (const { type, permission } of pairs) {
      for (const id of UNIVERSE[type]) {
        const { subjectIds } = await backend.authz.lookupSubjects({
          ...anyPair(`${type}:${id}`, permission),
          subjectType: 'user',
        });
        const { results } = await backend.authz.checkBulk({
          items: users.map((user) => ({
            ...anyPair(`${type}:${id}`, permission),
            subject: `user:${user}`,
          })),
        });
        const byChecks = users.filter((_, index) => results[index]?.allowed === true).sort();
        expect({ object: `${type}:${id}#${permission}`, subjects: [...subjectIds].sort() }).toEqual(
          {
            object: `${type}:${id}#${permission}`,
            subjects: byChecks,
          },
        );
      }
    }
  });
});

describe('authz.lookupSubjects is only for those who may read the list', () => {
  const readers = {
    organization: EXPECTED.organization.read_members,
    project: EXPECTED.project.read_collaborators,
    cluster: EXPECTED.project.read_collaborators,
    volume: EXPECTED.project.read_collaborators,
  } satisfies Record<Exclude<ResourceType, 'user'>, Persona[]>;

  const cases = PERSONAS.flatMap((persona) =>
    (Object.keys(readers) as Array<keyof typeof readers>).map((type) => ({
      persona,
      type,
      allowed: readers[type].includes(persona),
    })),
  );

  it.each(cases)(
    '$persona on the sample $type: allowed $allowed',
    async ({ persona, type, allowed }) => {
      const caller = await app.as(userOf(persona));
      const permission = PUBLIC_PERMISSIONS[type][0] as PublicPermission;
      const attempt = caller.authz.lookupSubjects(
        anyPair(`${type}:${SAMPLE_RESOURCE_ID[type]}`, permission),
      );
      if (allowed) {
        const { subjectIds } = await attempt;
        expect([...subjectIds].sort()).toEqual(
          expectedHolders(type, SAMPLE_RESOURCE_ID[type], permission),
        );
      } else {
        await expect(attempt).rejects.toMatchObject({ code: 'FORBIDDEN' });
      }
    },
  );

  it('a user may list the subjects of their own profile, nobody else’s', async () => {
    const member = await app.as(userOf('org_member_in_project'));
    expect(
      await member.authz.lookupSubjects({
        resource: `user:${userOf('org_member_in_project')}`,
        permission: 'view_profile',
      }),
    ).toEqual({ subjectIds: [userOf('org_member_in_project')] });
    await expect(
      member.authz.lookupSubjects({
        resource: `user:${userOf('owner')}`,
        permission: 'view_profile',
      }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('unknown objects reveal nothing to a caller without the scope', async () => {
    const stranger = await app.as(userOf('stranger'));
    const unknown: Array<{ resource: string; permission: PublicPermission }> = [
      { resource: 'organization:nope', permission: 'read_members' },
      { resource: 'project:nope', permission: 'read_settings' },
      { resource: 'cluster:nope', permission: 'ssh' },
      { resource: 'volume:nope', permission: 'view' },
    ];
    for (const args of unknown) {
      await expect(
        stranger.authz.lookupSubjects(anyPair(args.resource, args.permission)),
      ).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
    }
  });
});
