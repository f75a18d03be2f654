import type { RelationshipTuple, FilterSpec } from '../spicedb/proto.js';
import type { AssignableOrgRole, OrgRole, ProjectRole } from './schema.js';

/** `expiresAt` when given: a relationship SpiceDB stops counting at that instant. */
const until = (expiresAt: string | undefined) => (expiresAt !== undefined ? { expiresAt } : {});

/** The relationships the domain writes, named by what they mean. */
export const rel = {
  orgRole: (
    orgId: string,
    role: OrgRole,
    userId: string,
    expiresAt?: string,
  ): RelationshipTuple => ({
    resourceType: 'organization',
    resourceId: orgId,
    relation: role,
    subjectType: 'user',
    subjectId: userId,
    ...until(expiresAt),
  }),
  /** A pending invitation: `invitation:ORG` holds the organization's invitations. */
  invitation: (
    orgId: string,
    role: AssignableOrgRole,
    userId: string,
    expiresAt?: string,
  ): RelationshipTuple => ({
    resourceType: 'invitation',
    resourceId: orgId,
    relation: role,
    subjectType: 'user',
    subjectId: userId,
    ...until(expiresAt),
  }),
  orgProject: (orgId: string, projectId: string): RelationshipTuple => ({
    resourceType: 'organization',
    resourceId: orgId,
    relation: 'project',
    subjectType: 'project',
    subjectId: projectId,
  }),
  projectOrg: (projectId: string, orgId: string): RelationshipTuple => ({
    resourceType: 'project',
    resourceId: projectId,
    relation: 'organization',
    subjectType: 'organization',
    subjectId: orgId,
  }),
  projectRole: (
    projectId: string,
    role: ProjectRole,
    userId: string,
    expiresAt?: string,
  ): RelationshipTuple => ({
    resourceType: 'project',
    resourceId: projectId,
    relation: role,
    subjectType: 'user',
    subjectId: userId,
    ...until(expiresAt),
  }),
  clusterProject: (clusterId: string, projectId: string): RelationshipTuple => ({
    resourceType: 'cluster',
    resourceId: clusterId,
    relation: 'project',
    subjectType: 'project',
    subjectId: projectId,
  }),
  volumeProject: (volumeId: string, projectId: string): RelationshipTuple => ({
    resourceType: 'volume',
    resourceId: volumeId,
    relation: 'project',
    subjectType: 'project',
    subjectId: projectId,
  }),
};

/** Filters over the same relationships, for reads and write preconditions. */
export const filter = {
  anything: (resourceType: string, resourceId: string): FilterSpec => ({
    resourceType,
    resourceId,
  }),
  userOn: (
    resourceType: string,
    resourceId: string,
    userId: string,
    relation?: string,
  ): FilterSpec => ({
    resourceType,
    resourceId,
    subjectType: 'user',
    subjectId: userId,
    ...(relation !== undefined ? { relation } : {}),
  }),
  orgOwner: (orgId: string): FilterSpec => ({
    resourceType: 'organization',
    resourceId: orgId,
    relation: 'owner',
  }),
  ownerships: (userId: string): FilterSpec => ({
    resourceType: 'organization',
    relation: 'owner',
    subjectType: 'user',
    subjectId: userId,
  }),
  projectsOf: (orgId: string): FilterSpec => ({
    resourceType: 'project',
    relation: 'organization',
    subjectType: 'organization',
    subjectId: orgId,
  }),
  /** The clusters (or volumes) of a project. */
  childrenOf: (kind: 'cluster' | 'volume', projectId: string): FilterSpec => ({
    resourceType: kind,
    relation: 'project',
    subjectType: 'project',
    subjectId: projectId,
  }),
  parentOf: (resourceType: 'project' | 'cluster' | 'volume', resourceId: string): FilterSpec => ({
    resourceType,
    resourceId,
    relation: resourceType === 'project' ? 'organization' : 'project',
  }),
  userAnywhere: (resourceType: string, userId: string): FilterSpec => ({
    resourceType,
    subjectType: 'user',
    subjectId: userId,
  }),
};
