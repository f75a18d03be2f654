import { errorCodeOf, type AuthzClient } from '../../src/client.js';
import { badge, describeError, fillLink, h, muted } from './dom.js';

/**
 * "Your organizations and projects": what the browsed user can see, with everyone's roles
 * as far as the signed-in caller may list them, and the clusters and volumes of each project.
 * A backend-scope caller browses as any user (lookups with `subject`); everyone else as
 * themselves.
 */
export interface BrowseTarget {
  client: AuthzClient;
  /** Called after the page changed access (a collaborator removed), to show the new state. */
  refresh?: () => void;
  /** The user whose access is shown. */
  userId: string;
  /** Set when the signed-in caller is not `userId` (backend scope browsing as someone). */
  asSubject?: string;
}

/** LookupResources may name an object once per path that grants it. */
const distinct = (ids: string[]) => [...new Set(ids)].sort();

function person(target: BrowseTarget, userId: string, ...badges: Array<HTMLElement | undefined>) {
  const note = target.asSubject === undefined ? ' (you)' : ' (browsed)';
  return h(
    'li',
    { 'data-user': userId },
    fillLink('subject', userId),
    userId === target.userId ? h('span', { class: 'hint' }, note) : undefined,
    ...badges,
  );
}

async function organizationCard(target: BrowseTarget, orgId: string): Promise<HTMLElement> {
  const { client, userId } = target;
  const card = h('article', { class: 'entity', 'data-org': orgId });
  const title = (...extra: Array<HTMLElement | undefined>) =>
    h('h3', {}, fillLink('resource', `organization:${orgId}`, orgId), ' ', ...extra);
  try {
    const { members } = await client.org.listMembers.query({ orgId });
    const mine = members.find((m) => m.userId === userId)?.role;
    card.append(
      title(mine ? badge(mine) : undefined),
      h(
        'ul',
        { class: 'people' },
        ...members.map((m) =>
          person(
            target,
            m.userId,
            badge(m.role),
            'expiresAt' in m && typeof m.expiresAt === 'string'
              ? h('span', { class: 'hint', 'data-expires': m.expiresAt }, ` until ${m.expiresAt}`)
              : undefined,
          ),
        ),
      ),
    );
  } catch (error) {
    const forbidden = errorCodeOf(error) === 'FORBIDDEN';
    card.append(
      title(forbidden && !target.asSubject ? badge('external', 'external') : undefined),
      muted(
        forbidden
          ? target.asSubject
            ? 'Its members list is not yours to read (organization#read_members).'
            : 'You see only this organization’s name: you collaborate on one of its projects.'
          : describeError(error),
      ),
    );
  }
  return card;
}

async function childrenList(client: AuthzClient, projectId: string): Promise<HTMLElement> {
  const [clusters, volumes] = await Promise.all([
    client.cluster.list.query({ projectId }),
    client.volume.list.query({ projectId }),
  ]);
  const items = [
    ...clusters.clusterIds.map((id) => ['cluster', id] as const),
    ...volumes.volumeIds.map((id) => ['volume', id] as const),
  ];
  if (items.length === 0) return muted('No clusters or volumes.');
  return h(
    'ul',
    { class: 'children', 'data-testid': `children-${projectId}` },
    ...items.map(([kind, id]) =>
      h(
        'li',
        { [`data-${kind}`]: id },
        badge(kind, 'kind'),
        fillLink('resource', `${kind}:${id}`, id),
      ),
    ),
  );
}

/** The caller's own right to remove collaborators; the service refuses anyway without it. */
async function mayRemove(target: BrowseTarget, projectId: string): Promise<boolean> {
  if (target.asSubject !== undefined) return false;
  const { allowed } = await target.client.authz.check
    .query({ resource: `project:${projectId}`, permission: 'remove_collaborator' })
    .catch(() => ({ allowed: false }));
  return allowed;
}

function removeButton(target: BrowseTarget, projectId: string, userId: string): HTMLElement {
  const button = h(
    'button',
    { type: 'button', class: 'remove', 'data-remove': userId, title: `Remove ${userId}` },
    'remove',
  );
  button.addEventListener('click', () => {
    button.setAttribute('disabled', '');
    void target.client.project.removeCollaborator
      .mutate({ projectId, userId })
      .then(() => target.refresh?.())
      .catch((error: unknown) =>
        button.replaceWith(h('span', { class: 'error' }, describeError(error))),
      );
  });
  return button;
}

async function projectCard(target: BrowseTarget, projectId: string): Promise<HTMLElement> {
  const { client, userId } = target;
  const card = h('article', { class: 'entity', 'data-project': projectId });
  const removable = mayRemove(target, projectId);
  const title = (...extra: Array<HTMLElement | undefined>) =>
    h('h3', {}, fillLink('resource', `project:${projectId}`, projectId), ' ', ...extra);
  try {
    const { collaborators } = await client.project.listCollaborators.query({ projectId });
    const mine = collaborators.find((c) => c.userId === userId);
    const canRemove = await removable;
    card.append(
      title(
        mine ? badge(mine.role) : undefined,
        mine?.external ? badge('external', 'external') : undefined,
      ),
      h(
        'ul',
        { class: 'people' },
        ...collaborators.map((c) =>
          person(
            target,
            c.userId,
            badge(c.role),
            c.external ? badge('external', 'external') : undefined,
            canRemove && c.userId !== userId
              ? removeButton(target, projectId, c.userId)
              : undefined,
          ),
        ),
      ),
      await childrenList(client, projectId).catch((error: unknown) => muted(describeError(error))),
    );
  } catch (error) {
    const forbidden = errorCodeOf(error) === 'FORBIDDEN';
    card.append(
      title(),
      muted(
        forbidden
          ? 'Only this project’s name is visible (organization member, not a collaborator).'
          : describeError(error),
      ),
    );
  }
  return card;
}

/** Clusters and volumes the browsed user can view, for a backend caller browsing as them. */
async function viewableChildren(target: BrowseTarget): Promise<HTMLElement> {
  const subject = target.asSubject;
  const [clusters, volumes] = await Promise.all(
    (['cluster', 'volume'] as const).map((resourceType) =>
      target.client.authz.lookupResources.query({ resourceType, permission: 'view', subject }),
    ),
  );
  const items = [
    ...distinct(clusters?.resourceIds ?? []).map((id) => `cluster:${id}`),
    ...distinct(volumes?.resourceIds ?? []).map((id) => `volume:${id}`),
  ];
  return h(
    'article',
    { class: 'entity', 'data-testid': 'viewable-children' },
    h('h3', {}, `Clusters and volumes ${target.userId} can view`),
    items.length
      ? h(
          'ul',
          { class: 'children' },
          ...items.map((item) => h('li', {}, fillLink('resource', item))),
        )
      : muted('None.'),
  );
}

export async function loadAccess(
  target: BrowseTarget,
  orgs: HTMLElement,
  projects: HTMLElement,
): Promise<void> {
  orgs.replaceChildren(muted('Loading…'));
  projects.replaceChildren();
  delete orgs.dataset.loaded;
  try {
    const subject = target.asSubject;
    const [orgIds, projectIds] = await Promise.all([
      target.client.authz.lookupResources.query({
        resourceType: 'organization',
        permission: 'view_name',
        subject,
      }),
      target.client.authz.lookupResources.query({
        resourceType: 'project',
        permission: 'view_name',
        subject,
      }),
    ]);
    const empty = (what: string) =>
      muted(
        target.asSubject
          ? `${target.userId} has no ${what}.`
          : `No ${what} yet. A backend-scope caller can browse as any user (above).`,
      );
    orgs.replaceChildren(
      ...(orgIds.resourceIds.length
        ? await Promise.all(distinct(orgIds.resourceIds).map((id) => organizationCard(target, id)))
        : [empty('organizations')]),
    );
    projects.replaceChildren(
      ...(projectIds.resourceIds.length
        ? await Promise.all(distinct(projectIds.resourceIds).map((id) => projectCard(target, id)))
        : [empty('projects')]),
      ...(target.asSubject ? [await viewableChildren(target)] : []),
    );
    orgs.dataset.loaded = 'true';
  } catch (error) {
    orgs.replaceChildren(h('p', { class: 'error' }, describeError(error)));
  }
}
