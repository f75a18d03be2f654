import type { Question } from './questions.js';

const KINDS: ReadonlyArray<Question['kind']> = ['check', 'who', 'grid'];

/** A question as a shareable link: `?ask=check&resource=cluster:c1&permission=cluster%23ssh&user=bob`. */
export function linkTo(question: Question, base: string = window.location.href): string {
  const url = new URL(base);
  url.search = '';
  url.searchParams.set('ask', question.kind);
  url.searchParams.set('resource', question.resource);
  if (question.kind !== 'grid') url.searchParams.set('permission', question.permission);
  if (question.user) url.searchParams.set('user', question.user);
  return url.toString();
}

/** The question a link asks, if it asks one. */
export function questionOf(search: string): Question | undefined {
  const params = new URLSearchParams(search);
  const kind = params.get('ask') as Question['kind'] | null;
  const resource = params.get('resource');
  if (kind === null || !KINDS.includes(kind) || !resource) return undefined;
  return {
    kind,
    resource,
    permission: params.get('permission') ?? '',
    user: params.get('user') ?? '',
  };
}
