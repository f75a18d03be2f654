import type { AuthzClient } from '../../src/client.js';
import { badge, describeError, fillLink, h, muted } from './dom.js';
import { renderExplanation } from './explain-view.js';
import { checkInput, permissionLabel, permissionsOf, type ResourceType } from './vocabulary.js';

/** One question of the page, as typed: the same three fields serve every kind of question. */
export interface Question {
  kind: 'check' | 'who' | 'grid';
  resource: string;
  permission: string;
  /** A user id; empty means the signed-in caller. */
  user: string;
}

export interface Asker {
  client: AuthzClient;
  me: string;
  result: HTMLElement;
  explain: HTMLElement;
}

const subjectOf = (asker: Asker, user: string) =>
  user === '' || user === asker.me ? undefined : `user:${user}`;

function verdictLine(allowed: boolean, who: string, permission: string, resource: string) {
  return h(
    'p',
    { class: `verdict ${allowed ? 'allowed' : 'denied'}`, 'data-verdict': String(allowed) },
    badge(allowed ? 'ALLOWED' : 'DENIED', allowed ? 'allowed' : 'denied'),
    ` ${who} ${allowed ? 'can' : 'cannot'} ${permission} on ${resource}`,
  );
}

const refusal = (error: unknown) =>
  h(
    'p',
    { class: 'verdict refused', 'data-verdict': 'refused' },
    badge('REFUSED', 'refused'),
    ` ${describeError(error)}`,
  );

export async function explainInto(
  asker: Asker,
  resource: string,
  permission: string,
  user: string,
): Promise<void> {
  asker.explain.replaceChildren(muted('Explaining…'));
  try {
    const explanation = await asker.client.authz.explain.query(
      checkInput(resource, permission, subjectOf(asker, user)),
    );
    asker.explain.replaceChildren(renderExplanation(explanation));
  } catch (error) {
    asker.explain.replaceChildren(muted(`No explanation available: ${describeError(error)}`));
  }
}

/** "Can USER do PERMISSION on RESOURCE?", explained, then kept live over authz.watch. */
export async function askCheck(
  asker: Asker,
  question: Question,
  onLive: (unsubscribe: () => void) => void,
): Promise<void> {
  const { resource, permission, user } = question;
  const who = user || asker.me;
  const input = checkInput(resource, permission, subjectOf(asker, user));
  try {
    const { allowed } = await asker.client.authz.check.query(input);
    asker.result.replaceChildren(verdictLine(allowed, who, permission, resource));
  } catch (error) {
    asker.result.replaceChildren(refusal(error));
    return;
  }
  await explainInto(asker, resource, permission, user);
  const live = h('p', { class: 'hint', 'data-testid': 'live' }, 'live: watching for changes');
  asker.result.append(live);
  const subscription = asker.client.authz.watch.subscribe(
    { checks: [input] },
    {
      onData: ({ data }) => {
        const verdict = asker.result.querySelector('[data-verdict]');
        const current = verdict?.getAttribute('data-verdict');
        if (current === String(data.allowed)) return;
        verdict?.replaceWith(verdictLine(data.allowed, who, permission, resource));
        live.textContent = `live: changed at revision ${data.checkedAt}`;
        void explainInto(asker, resource, permission, user);
      },
      onError: (error) => {
        live.textContent = `live updates stopped: ${describeError(error)}`;
      },
    },
  );
  onLive(() => subscription.unsubscribe());
}

/** "Who can PERMISSION on RESOURCE?": lookupSubjects, within what the caller may learn. */
export async function askWho(asker: Asker, question: Question): Promise<void> {
  const { resource, permission } = question;
  try {
    const { subjectIds } = await asker.client.authz.lookupSubjects.query({
      ...checkInput(resource, permission),
      subjectType: 'user',
    });
    const users = [...new Set(subjectIds)].sort();
    asker.result.replaceChildren(
      h('h3', {}, `Who can ${permission} on ${resource}`),
      users.length
        ? h(
            'ul',
            { class: 'people', 'data-testid': 'who' },
            ...users.map((id) => h('li', { 'data-user': id }, fillLink('subject', id))),
          )
        : muted('Nobody you may see.'),
    );
  } catch (error) {
    asker.result.replaceChildren(refusal(error));
  }
}

/** "What can USER do on RESOURCE?": every row of the roles page for the type, ✓ or ✗. */
export async function askGrid(asker: Asker, question: Question, type: ResourceType): Promise<void> {
  const { resource, user } = question;
  const permissions = permissionsOf(type);
  const subject = subjectOf(asker, user);
  try {
    const { results } = await asker.client.authz.checkBulk.query({
      items: permissions.map((permission) => checkInput(resource, permission, subject)),
    });
    const rows = permissions.map((permission, index) => {
      const outcome = results[index];
      const allowed = outcome?.allowed === true;
      const cell = h(
        'button',
        {
          type: 'button',
          class: `cell ${allowed ? 'allowed' : 'denied'}`,
          'data-permission': permission,
          'data-allowed': String(allowed),
          title: 'Why?',
        },
        allowed ? '✓' : '✗',
      );
      cell.addEventListener('click', () => void explainInto(asker, resource, permission, user));
      return h(
        'tr',
        {},
        h('td', {}, cell),
        h('td', {}, h('code', {}, permission)),
        h('td', { class: 'label' }, permissionLabel(type, permission)),
      );
    });
    asker.result.replaceChildren(
      h('h3', {}, `What ${user || asker.me} can do on ${resource}`),
      h('table', { class: 'grid', 'data-testid': 'grid' }, h('tbody', {}, ...rows)),
    );
  } catch (error) {
    asker.result.replaceChildren(refusal(error));
  }
}
