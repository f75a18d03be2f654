import { createAuthzClient } from '../../src/client.js';
import { loadAccess } from './browse.js';
import { badge, byId, h } from './dom.js';
import { linkTo, questionOf } from './link.js';
import { askCheck, askGrid, askWho, type Question } from './questions.js';
import {
  devTokensOffered,
  forgetToken,
  mintDevToken,
  sessionOf,
  storedToken,
  storeToken,
  type Session,
} from './session.js';
import { parseObject, permissionsOf, RESOURCE_TYPES } from './vocabulary.js';
import './style.css';

let session: Session | undefined;
let stopLive: (() => void) | undefined;
/** A question from a shared link, asked as soon as someone is signed in. */
let pending: Question | undefined;

/** Every call goes through the typed client, with the token of the session. */
const client = createAuthzClient({ url: window.location.origin, getToken: () => session?.token });

const field = (id: string) => byId<HTMLInputElement>(id);

function fillPermissions(): void {
  const select = byId<HTMLSelectElement>('check-permission');
  for (const type of RESOURCE_TYPES) {
    const group = h('optgroup', { label: type });
    for (const permission of permissionsOf(type)) {
      group.append(h('option', { value: `${type}#${permission}` }, permission));
    }
    select.append(group);
  }
}

function showSignedIn(signedIn: boolean): void {
  byId('sign-in').hidden = signedIn;
  byId('access').hidden = !signedIn;
  byId('ask').hidden = !signedIn;
  byId('sign-out').hidden = !signedIn;
  byId('browse-as-form').hidden = !(signedIn && session?.backend);
}

async function browse(): Promise<void> {
  if (session === undefined) return;
  const asUser = field('browse-as').value.trim();
  const browsingOther = session.backend && asUser !== '' && asUser !== session.userId;
  await loadAccess(
    {
      client,
      refresh: () => void browse(),
      userId: browsingOther ? asUser : session.userId,
      ...(browsingOther ? { asSubject: `user:${asUser}` } : {}),
    },
    byId('orgs'),
    byId('projects'),
  );
}

async function signIn(jwt: string): Promise<void> {
  const errorBox = byId('sign-in-error');
  errorBox.textContent = '';
  const next = sessionOf(jwt);
  if (next === undefined) {
    errorBox.textContent = 'That is not a JWT with a subject (sub) claim.';
    return;
  }
  stopLive?.();
  session = next;
  field('token-input').value = '';
  storeToken(jwt);
  byId('session').replaceChildren(
    h(
      'span',
      {},
      'Signed in as ',
      h('strong', { 'data-testid': 'me' }, next.userId),
      ' ',
      next.backend && badge('backend scope', 'scope'),
    ),
  );
  showSignedIn(true);
  await browse();
  if (pending !== undefined) {
    const question = pending;
    pending = undefined;
    await ask(question);
  }
}

function signOut(): void {
  stopLive?.();
  stopLive = undefined;
  session = undefined;
  forgetToken();
  byId('session').textContent = 'Not signed in';
  byId('orgs').replaceChildren();
  byId('projects').replaceChildren();
  byId('check-result').replaceChildren();
  byId('explain-result').replaceChildren();
  showSignedIn(false);
}

function questionFromForm(kind: Question['kind']): Question {
  return {
    kind,
    resource: field('check-resource').value.trim(),
    permission: byId<HTMLSelectElement>('check-permission').value,
    user: field('check-subject').value.trim(),
  };
}

function fillForm(question: Question): void {
  field('check-resource').value = question.resource;
  field('check-subject').value = question.user;
  if (question.permission) byId<HTMLSelectElement>('check-permission').value = question.permission;
}

async function ask(question: Question): Promise<void> {
  if (session === undefined) return;
  stopLive?.();
  stopLive = undefined;
  const result = byId('check-result');
  const explain = byId('explain-result');
  explain.replaceChildren();
  const object = parseObject(question.resource);
  const [type = '', permission = ''] = question.permission.split('#');
  if (object === undefined) {
    result.replaceChildren(
      h('p', { class: 'error' }, 'Write the resource as type:id, e.g. cluster:c1.'),
    );
    return;
  }
  if (question.kind !== 'grid' && type !== object.type) {
    result.replaceChildren(
      h('p', { class: 'error' }, `${question.permission} applies to a ${type}: write ${type}:ID.`),
    );
    return;
  }
  history.replaceState(null, '', linkTo(question));
  byId<HTMLAnchorElement>('share-link').href = linkTo(question);
  byId('share').hidden = false;
  result.replaceChildren(h('p', { class: 'muted' }, 'Asking…'));
  const asker = { client, me: session.userId, result, explain };
  if (question.kind === 'who') return askWho(asker, { ...question, permission });
  if (question.kind === 'grid') return askGrid(asker, question, object.type);
  return askCheck(asker, { ...question, permission }, (stop) => (stopLive = stop));
}

function onFill(event: MouseEvent): void {
  const target = (event.target as HTMLElement).closest<HTMLElement>('[data-fill]');
  if (target === null) return;
  const value = target.dataset.value ?? '';
  if (target.dataset.fill === 'subject') {
    field('check-subject').value = value;
  } else {
    field('check-resource').value = value;
    const type = parseObject(value)?.type;
    const select = byId<HTMLSelectElement>('check-permission');
    if (type !== undefined && !select.value.startsWith(`${type}#`)) {
      select.value = `${type}#${permissionsOf(type)[0] ?? ''}`;
    }
  }
  field('check-resource').scrollIntoView({ block: 'nearest' });
}

fillPermissions();
byId<HTMLFormElement>('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void signIn(field('token-input').value.trim());
});
byId<HTMLFormElement>('dev-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void mintDevToken(field('dev-user').value.trim(), field('dev-backend').checked).then((minted) =>
    'token' in minted
      ? signIn(minted.token)
      : void (byId('sign-in-error').textContent = minted.error),
  );
});
byId<HTMLFormElement>('browse-as-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void browse();
});
byId<HTMLFormElement>('check-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const kind = ((event.submitter as HTMLButtonElement | null)?.value ??
    'check') as Question['kind'];
  void ask(questionFromForm(kind));
});
byId('sign-out').addEventListener('click', signOut);
document.addEventListener('click', onFill);
void devTokensOffered().then((offered) => (byId('dev-form').hidden = !offered));

pending = questionOf(window.location.search);
if (pending !== undefined) fillForm(pending);
const token = storedToken();
if (token !== undefined) void signIn(token);
else showSignedIn(false);
