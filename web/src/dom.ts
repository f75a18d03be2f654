import { errorCodeOf } from '../../src/client.js';

export type Child = Node | string | undefined | false;

export function h(
  tag: string,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  for (const child of children) {
    if (child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} is missing from index.html`);
  return element as T;
}

export const badge = (text: string, kind: string = text) =>
  h('span', { class: `badge badge-${kind}`, 'data-badge': kind }, text);

export const muted = (text: string) => h('p', { class: 'muted' }, text);

export function describeError(error: unknown): string {
  const code = errorCodeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return code ? `${code}: ${message}` : message;
}

/**
 * An id that fills the question form when clicked: objects fill the resource field, users the
 * user field, so a support engineer never retypes an id the page already shows.
 */
export function fillLink(kind: 'resource' | 'subject', value: string, label = value): HTMLElement {
  const button = h(
    'button',
    {
      type: 'button',
      class: 'fill',
      'data-fill': kind,
      'data-value': value,
      title: `Ask about ${value}`,
    },
    label,
  );
  return button;
}
