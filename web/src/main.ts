import {
  isPublicPermission,
  isResourceType,
  PUBLIC_PERMISSIONS,
  RESOURCE_TYPES,
} from '../../src/authz/schema.js';
import { createAuthzClient, errorCodeOf, type AuthzOutputs } from '../../src/client.js';
import './style.css';

const TOKEN_KEY = 'authz-explorer-token';

let token: string | undefined = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
let me: string | undefined;

/** Every call goes through the typed client, with the token of the session. */
const client = createAuthzClient({ url: window.location.origin, getToken: () => token });

type Child = Node | string | undefined | false;

function h(tag: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  for (const child of children) {
    if (child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} is missing from index.html`);
  return element as T;
}

const badge = (text: string, kind: string = text) =>
  h('span', { class: `badge badge-${kind}`, 'data-badge': kind }, text);

function describeError(error: unknown): string {
  const code = errorCodeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return code ? `${code}: ${message}` : message;
}

/** The JWT's claims, read only to show who is signed in; the service verifies the token. */
function claimsOf(jwt: string): { sub?: string; scope?: string } {
  const payload = jwt.split('.')[1];
  if (payload === undefined) return {};
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    return JSON.parse(json) as { sub?: string; scope?: string };
  } catch {
    return {};
  }
}

async function signIn(jwt: string): Promise<void> {
  const claims = claimsOf(jwt);
  const errorBox = byId('sign-in-error');
  errorBox.textContent = '';
  if (claims.sub === undefined) {
    errorBox.textContent = 'That is not a JWT with a subject (sub) claim.';
    return;
  }
  token = jwt;
  me = claims.sub;
  byId<HTMLInputElement>('token-input').value = '';
  sessionStorage.setItem(TOKEN_KEY, jwt);
  const session = byId('session');
  const backend = claims.scope?.split(' ').includes('authz:check') ?? false;
  session.replaceChildren(
    h(
      'span',
      {},
      'Signed in as ',
      h('strong', { 'data-testid': 'me' }, claims.sub),
      ' ',
      backend && badge('backend scope', 'scope'),
    ),
  );
  byId('access').hidden = false;
  byId('ask').hidden = false;
  await loadAccess();
}

function roleOf<T extends { userId: string; role: string }>(entries: T[]): string | undefined {
  return entries.find((entry) => entry.userId === me)?.role;
}

async function organizationCard(orgId: string): Promise<HTMLElement> {
  const card = h('article', { class: 'entity', 'data-org': orgId });
  try {
    const { members } = await client.org.listMembers.query({ orgId });
    const mine = roleOf(members);
    card.append(
      h('h3', {}, orgId, ' ', mine ? badge(mine) : undefined),
      h(
        'ul',
        { class: 'people' },
        ...members.map((m) =>
          h('li', { 'data-user': m.userId }, h('span', { class: 'user' }, m.userId), badge(m.role)),
        ),
      ),
    );
  } catch (error) {
    const forbidden = errorCodeOf(error) === 'FORBIDDEN';
    card.append(
      h('h3', {}, orgId, ' ', forbidden ? badge('external', 'external') : undefined),
      h(
        'p',
        { class: 'muted' },
        forbidden
          ? 'You see only this organization’s name: you collaborate on one of its projects.'
          : describeError(error),
      ),
    );
  }
  return card;
}

async function projectCard(projectId: string): Promise<HTMLElement> {
  const card = h('article', { class: 'entity', 'data-project': projectId });
  try {
    const { collaborators } = await client.project.listCollaborators.query({ projectId });
    const mine = collaborators.find((c) => c.userId === me);
    card.append(
      h(
        'h3',
        {},
        projectId,
        ' ',
        mine ? badge(mine.role) : undefined,
        mine?.external ? badge('external', 'external') : undefined,
      ),
      h(
        'ul',
        { class: 'people' },
        ...collaborators.map((c) =>
          h(
            'li',
            { 'data-user': c.userId },
            h('span', { class: 'user' }, c.userId),
            badge(c.role),
            c.external ? badge('external', 'external') : undefined,
          ),
        ),
      ),
    );
  } catch (error) {
    const forbidden = errorCodeOf(error) === 'FORBIDDEN';
    card.append(
      h('h3', {}, projectId),
      h(
        'p',
        { class: 'muted' },
        forbidden
          ? 'You see this project’s name as an organization member; you are not a collaborator.'
          : describeError(error),
      ),
    );
  }
  return card;
}

/** LookupResources may name an object once per path that grants it. */
const distinct = (ids: string[]) => [...new Set(ids)].sort();

async function loadAccess(): Promise<void> {
  const orgs = byId('orgs');
  const projects = byId('projects');
  orgs.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  projects.replaceChildren();
  try {
    const [orgIds, projectIds] = await Promise.all([
      client.authz.lookupResources.query({ resourceType: 'organization', permission: 'view_name' }),
      client.authz.lookupResources.query({ resourceType: 'project', permission: 'view_name' }),
    ]);
    const empty = (what: string) => h('p', { class: 'muted' }, `No ${what} yet.`);
    orgs.replaceChildren(
      ...(orgIds.resourceIds.length
        ? await Promise.all(distinct(orgIds.resourceIds).map(organizationCard))
        : [empty('organizations')]),
    );
    projects.replaceChildren(
      ...(projectIds.resourceIds.length
        ? await Promise.all(distinct(projectIds.resourceIds).map(projectCard))
        : [empty('projects')]),
    );
    orgs.dataset.loaded = 'true';
  } catch (error) {
    orgs.replaceChildren(h('p', { class: 'error' }, describeError(error)));
  }
}

function fillPermissions(): void {
  const select = byId<HTMLSelectElement>('check-permission');
  for (const type of RESOURCE_TYPES) {
    const group = h('optgroup', { label: type });
    for (const permission of PUBLIC_PERMISSIONS[type]) {
      group.append(h('option', { value: `${type}#${permission}` }, permission));
    }
    select.append(group);
  }
}

type Explanation = AuthzOutputs['authz']['explain'];

const list = (items: string[], testId: string) =>
  h('ul', { class: 'mono', 'data-testid': testId }, ...items.map((item) => h('li', {}, item)));

/** authz.explain's answer: the sentence, the path of relations, and what is missing. */
function renderExplanation(explanation: Explanation): HTMLElement {
  return h(
    'div',
    { class: 'explain' },
    h('h3', {}, 'Why? ', h('span', { class: 'hint' }, 'authz.explain')),
    h('p', { 'data-testid': 'explanation' }, explanation.explanation),
    explanation.path.length > 0 &&
      h(
        'p',
        { class: 'path', 'data-testid': 'explain-path' },
        ...explanation.path.flatMap((step, index) => [
          index > 0 ? h('span', { class: 'arrow' }, '→') : undefined,
          h('code', {}, step),
        ]),
      ),
    explanation.relationships.length > 0 && h('h4', {}, 'Relationships on the path'),
    explanation.relationships.length > 0 &&
      list(explanation.relationships, 'explain-relationships'),
    explanation.missing.length > 0 && h('h4', {}, 'Any of these would grant it'),
    explanation.missing.length > 0 && list(explanation.missing, 'explain-missing'),
    explanation.rules.length > 0 && h('h4', {}, 'Schema rules'),
    explanation.rules.length > 0 && list(explanation.rules, 'explain-rules'),
  );
}

async function check(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const resultBox = byId('check-result');
  const explainBox = byId('explain-result');
  explainBox.replaceChildren();
  const resource = byId<HTMLInputElement>('check-resource').value.trim();
  const [type = '', permission = ''] = byId<HTMLSelectElement>('check-permission').value.split('#');
  const subjectId = byId<HTMLInputElement>('check-subject').value.trim();
  const subject = subjectId === '' || subjectId === me ? undefined : `user:${subjectId}`;
  const who = subjectId || me || 'you';
  if (!isResourceType(type) || !isPublicPermission(type, permission)) {
    resultBox.replaceChildren(h('p', { class: 'error' }, 'Pick a permission.'));
    return;
  }
  if (!resource.startsWith(`${type}:`)) {
    resultBox.replaceChildren(
      h('p', { class: 'error' }, `${type}#${permission} applies to a ${type}: write ${type}:ID.`),
    );
    return;
  }
  const input = { resource, permission, ...(subject ? { subject } : {}) };
  resultBox.replaceChildren(h('p', { class: 'muted' }, 'Checking…'));
  try {
    const { allowed } = await client.authz.check.query(input);
    resultBox.replaceChildren(
      h(
        'p',
        { class: `verdict ${allowed ? 'allowed' : 'denied'}`, 'data-verdict': String(allowed) },
        badge(allowed ? 'ALLOWED' : 'DENIED', allowed ? 'allowed' : 'denied'),
        ` ${who} ${allowed ? 'can' : 'cannot'} ${permission} on ${resource}`,
      ),
    );
  } catch (error) {
    resultBox.replaceChildren(
      h(
        'p',
        { class: 'verdict refused', 'data-verdict': 'refused' },
        badge('REFUSED', 'refused'),
        ` ${describeError(error)}`,
      ),
    );
    return;
  }
  try {
    const explanation = await client.authz.explain.query(input);
    explainBox.replaceChildren(renderExplanation(explanation));
  } catch (error) {
    explainBox.replaceChildren(
      h('p', { class: 'muted' }, `No explanation available: ${describeError(error)}`),
    );
  }
}

async function offerDevTokens(): Promise<void> {
  // The service answers POST /dev/token only outside production; elsewhere the form stays hidden.
  const probe = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  }).catch(() => undefined);
  if (probe?.status === 400) byId('dev-form').hidden = false;
}

async function mintDevToken(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const userId = byId<HTMLInputElement>('dev-user').value.trim();
  const backend = byId<HTMLInputElement>('dev-backend').checked;
  const response = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId, backend }),
  });
  const body = (await response.json()) as { token?: string; error?: string };
  if (body.token === undefined) {
    byId('sign-in-error').textContent = body.error ?? `HTTP ${response.status}`;
    return;
  }
  await signIn(body.token);
}

fillPermissions();
byId<HTMLFormElement>('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void signIn(byId<HTMLInputElement>('token-input').value.trim());
});
byId<HTMLFormElement>('dev-form').addEventListener('submit', (event) => void mintDevToken(event));
byId<HTMLFormElement>('check-form').addEventListener('submit', (event) => void check(event));
void offerDevTokens();
if (token !== undefined) void signIn(token);
