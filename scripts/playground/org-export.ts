import { createHmac } from 'node:crypto';
import { PUBLIC_PERMISSIONS, type ResourceType } from '../../src/authz/schema.js';
import type { ReadConsistency } from '../../src/spicedb/consistency.js';
import type { CheckItem, SpiceDbGateway } from '../../src/spicedb/gateway.js';
import { formatTuple, type RelationshipTuple } from '../../src/spicedb/proto.js';
import { computeExpectedRelations, renderPlaygroundFile, type PlaygroundFile } from './render.js';

export interface ExportOptions {
  /** Replace every id by a stable pseudonym derived from it (HMAC-SHA256 with `salt`). */
  anonymize?: boolean;
  salt?: string;
  /** Compute the `validation` block (the expected subjects of every permission) too. */
  validation?: boolean;
}

export interface OrganizationExport {
  text: string;
  relationships: number;
  assertions: number;
  users: number;
}

const CHECK_CHUNK = 500;
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const keyOf = (t: RelationshipTuple) => formatTuple(t);

/**
 * The live relationships of one organization: its own (roles and organization#project), its
 * pending invitations, its projects (found through project#organization and organization#project) with all of theirs,
 * and the clusters and volumes of those projects.
 */
export async function readOrganization(
  gateway: SpiceDbGateway,
  orgId: string,
  consistency: ReadConsistency,
): Promise<RelationshipTuple[]> {
  const found = new Map<string, RelationshipTuple>();
  const add = (tuples: RelationshipTuple[]) => {
    for (const t of tuples) found.set(keyOf(t), t);
  };
  const own = await gateway.readRelationships(
    { resourceType: 'organization', resourceId: orgId },
    consistency,
  );
  if (own.length === 0) throw new Error(`organization ${orgId} has no relationships: is it there?`);
  add(own);
  // Pending invitations (with their expirations, as every relationship keeps its own).
  add(
    await gateway.readRelationships({ resourceType: 'invitation', resourceId: orgId }, consistency),
  );
  const children = await gateway.readRelationships(
    {
      resourceType: 'project',
      relation: 'organization',
      subjectType: 'organization',
      subjectId: orgId,
    },
    consistency,
  );
  add(children);
  const projects = new Set([
    ...children.map((t) => t.resourceId),
    ...own.filter((t) => t.relation === 'project').map((t) => t.subjectId),
  ]);
  for (const projectId of [...projects].sort()) {
    add(
      await gateway.readRelationships(
        { resourceType: 'project', resourceId: projectId },
        consistency,
      ),
    );
    for (const resourceType of ['cluster', 'volume']) {
      add(
        await gateway.readRelationships(
          { resourceType, relation: 'project', subjectType: 'project', subjectId: projectId },
          consistency,
        ),
      );
    }
  }
  return [...found.values()].sort((a, b) => byText(keyOf(a), keyOf(b)));
}

/** Stable pseudonyms: the same id of the same type always gets the same name. */
export function pseudonymizer(salt = ''): (type: string, id: string) => string {
  const given = new Map<string, string>();
  const owners = new Map<string, string>();
  return (type, id) => {
    const key = `${type}:${id}`;
    const known = given.get(key);
    if (known !== undefined) return known;
    const digest = createHmac('sha256', `authz-playground-export:${salt}`)
      .update(key)
      .digest('hex');
    const name = `${type}_${digest.slice(0, 12)}`;
    const owner = owners.get(name);
    if (owner !== undefined && owner !== key) throw new Error(`pseudonym collision: ${name}`);
    owners.set(name, key);
    given.set(key, name);
    return name;
  };
}

/** A playground file describing one organization as SpiceDB holds it now. */
export async function exportOrganization(
  gateway: SpiceDbGateway,
  orgId: string,
  schema: string,
  options: ExportOptions = {},
): Promise<OrganizationExport> {
  const consistency: ReadConsistency = { kind: 'fullyConsistent' };
  const relationships = await readOrganization(gateway, orgId, consistency);

  // Every object of the export, by type.
  const objects = new Map<string, Set<string>>();
  const note = (type: string, id: string) => {
    const set = objects.get(type) ?? new Set<string>();
    set.add(id);
    objects.set(type, set);
  };
  for (const t of relationships) {
    note(t.resourceType, t.resourceId);
    note(t.subjectType, t.subjectId);
  }
  const users = [...(objects.get('user') ?? [])].sort();

  // Each user against each permission of each object (and their own profile), from real checks.
  const checks: CheckItem[] = [];
  for (const type of ['organization', 'project', 'cluster', 'volume'] as const) {
    const permissions = PUBLIC_PERMISSIONS[type as ResourceType] as readonly string[];
    for (const id of [...(objects.get(type) ?? [])].sort()) {
      for (const permission of permissions) {
        for (const userId of users) {
          checks.push({
            resource: { type, id },
            permission,
            subject: { type: 'user', id: userId },
          });
        }
      }
    }
  }
  for (const userId of users) {
    checks.push({
      resource: { type: 'user', id: userId },
      permission: 'view_profile',
      subject: { type: 'user', id: userId },
    });
  }
  const answers: boolean[] = [];
  for (let start = 0; start < checks.length; start += CHECK_CHUNK) {
    const { results } = await gateway.checkBulk(
      checks.slice(start, start + CHECK_CHUNK),
      consistency,
    );
    for (const r of results) {
      if ('error' in r) throw new Error(`a check failed: ${String(r.error)}`);
      answers.push(r.allowed);
    }
  }

  const pseudonym = pseudonymizer(options.salt);
  // invitation:ORG holds organization ORG's invitations: it takes the organization's pseudonym.
  const rename = options.anonymize
    ? (type: string, id: string) => pseudonym(type === 'invitation' ? 'organization' : type, id)
    : (_: string, id: string) => id;
  const object = (type: string, id: string) => `${type}:${rename(type, id)}`;
  const assertTrue: string[] = [];
  const assertFalse: string[] = [];
  checks.forEach((c, index) => {
    const text = `${object(c.resource.type, c.resource.id)}#${c.permission}@${object(c.subject.type, c.subject.id)}`;
    (answers[index] ? assertTrue : assertFalse).push(text);
  });

  const renamed = relationships
    .map((t) => ({
      ...t,
      resourceId: rename(t.resourceType, t.resourceId),
      subjectId: rename(t.subjectType, t.subjectId),
    }))
    .sort((a, b) => byText(keyOf(a), keyOf(b)));

  // The subjects of every permission checked, computed by SpiceDB's development package over
  // the exported (renamed) schema and relationships.
  const validation: PlaygroundFile['validation'] = [];
  if (options.validation !== false) {
    const resources = [
      ...new Set(checks.map((c) => `${object(c.resource.type, c.resource.id)}#${c.permission}`)),
    ].sort(byText);
    const computed = computeExpectedRelations({ schema, relationships: renamed }, resources);
    for (const resource of resources) {
      validation.push({ resource, subjects: computed.validation[resource] ?? [] });
    }
  }

  const header = [
    `Organization ${options.anonymize ? object('organization', orgId) : `organization:${orgId}`} as SpiceDB held it at ${new Date().toISOString()}`,
    'written by `npm run playground:export`. Assertions are the answers of real checks at that',
    'time: each user involved against each permission of each object, and their own profile.',
    ...(options.anonymize
      ? ['Ids are pseudonyms (stable: the same id always gets the same name).']
      : []),
  ];
  const text = renderPlaygroundFile(
    { schema, relationships: renamed, assertions: { assertTrue, assertFalse }, validation },
    header,
  );
  return { text, relationships: renamed.length, assertions: checks.length, users: users.length };
}
