import type { RelationshipTuple } from '../../src/spicedb/proto.js';
import { seededRandom } from '../../testkit/seeded-random.js';

/**
 * A generated platform for the benchmarks: organizations with members, projects with
 * collaborators, clusters and volumes. Deterministic (seeded), generated lazily so even the
 * full size never sits in memory as one array.
 *
 * At scale 1: 1,000 organizations, 10,000 projects, 50,000 users, 20,000 clusters and 30,000
 * volumes: about half a million relationships.
 */
export interface PlatformShape {
  organizations: number;
  projectsPerOrg: number;
  usersPerOrg: number;
  collaboratorsPerProject: number;
  clustersPerProject: number;
  volumesPerProject: number;
  /** Users who belong to every organization (each lookup run asks as one no other run asked as). */
  auditors: number;
}

export function platformShape(scale: number): PlatformShape {
  return {
    organizations: Math.max(2, Math.round(1_000 * scale)),
    projectsPerOrg: 10,
    usersPerOrg: 50,
    collaboratorsPerProject: 30,
    clustersPerProject: 2,
    volumesPerProject: 3,
    auditors: 1,
  };
}

/** The users who belong to every organization, so see every project's name. */
export const auditorId = (a: number) => (a === 0 ? 'auditor' : `auditor${a}`);

export const orgId = (o: number) => `org${o}`;
export const projectId = (o: number, p: number) => `org${o}_p${p}`;
export const userId = (o: number, u: number) => `u${o}_${u}`;
export const clusterId = (o: number, p: number, c: number) => `org${o}_p${p}_c${c}`;
export const volumeId = (o: number, p: number, v: number) => `org${o}_p${p}_v${v}`;

/** The platform is drawn with the tests' seeded generator, so a size and seed give one platform. */
export const random = seededRandom;

const rel = (
  resourceType: string,
  resourceId: string,
  relation: string,
  subjectType: string,
  subjectId: string,
): RelationshipTuple => ({ resourceType, resourceId, relation, subjectType, subjectId });

/**
 * Every relationship of the platform. In each organization user 0 is the owner, users 1-4
 * admins, the rest members; each project has one admin and member collaborators drawn from its
 * organization, with now and then an external collaborator from the next organization.
 */
export function* platformRelationships(shape: PlatformShape): Generator<RelationshipTuple> {
  const next = random(42);
  for (let o = 0; o < shape.organizations; o += 1) {
    const org = orgId(o);
    for (let a = 0; a < shape.auditors; a += 1) {
      yield rel('organization', org, 'member', 'user', auditorId(a));
    }
    for (let u = 0; u < shape.usersPerOrg; u += 1) {
      const user = userId(o, u);
      yield rel('organization', org, u === 0 ? 'owner' : u < 5 ? 'admin' : 'member', 'user', user);
    }
    for (let p = 0; p < shape.projectsPerOrg; p += 1) {
      const project = projectId(o, p);
      yield rel('project', project, 'organization', 'organization', org);
      yield rel('organization', org, 'project', 'project', project);
      yield rel('project', project, 'admin', 'user', userId(o, 1 + (p % 4)));
      const chosen = new Set<number>();
      while (chosen.size < Math.min(shape.collaboratorsPerProject - 1, shape.usersPerOrg - 5)) {
        chosen.add(5 + Math.floor(next() * (shape.usersPerOrg - 5)));
      }
      for (const u of chosen) yield rel('project', project, 'member', 'user', userId(o, u));
      if (next() < 0.2 && shape.organizations > 1) {
        const other = (o + 1) % shape.organizations;
        yield rel('project', project, 'member', 'user', userId(other, 5 + (p % 10)));
      }
      for (let c = 0; c < shape.clustersPerProject; c += 1) {
        yield rel('cluster', clusterId(o, p, c), 'project', 'project', project);
      }
      for (let v = 0; v < shape.volumesPerProject; v += 1) {
        yield rel('volume', volumeId(o, p, v), 'project', 'project', project);
      }
    }
  }
}

export interface BenchCheck {
  resource: string;
  permission: string;
  subject: string;
}

/**
 * A workload where every check is asked twice, the twin within `spread` positions of the
 * first: 50% of the checks asked are duplicates of one asked at about the same time.
 */
export function duplicatedWorkload(distinct: BenchCheck[], spread: number): BenchCheck[] {
  const next = random(11);
  const out: BenchCheck[] = [];
  const window = Math.max(1, Math.floor(spread / 2));
  for (let start = 0; start < distinct.length; start += window) {
    const chunk = distinct.slice(start, start + window);
    const doubled = [...chunk, ...chunk];
    for (let i = doubled.length - 1; i > 0; i -= 1) {
      const j = Math.floor(next() * (i + 1));
      [doubled[i], doubled[j]] = [doubled[j] as BenchCheck, doubled[i] as BenchCheck];
    }
    out.push(...doubled);
  }
  return out;
}
