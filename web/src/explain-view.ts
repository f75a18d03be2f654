import { h } from './dom.js';

/** The parts of an `authz.explain` answer the page shows, each titled for a support engineer. */
const SECTIONS: Array<[field: string, title: string, testId: string]> = [
  ['relationships', 'Relationships on the path', 'explain-relationships'],
  ['missing', 'Any of these would grant it', 'explain-missing'],
  ['rules', 'Schema rules', 'explain-rules'],
];

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];

const list = (items: string[], testId: string) =>
  h('ul', { class: 'mono', 'data-testid': testId }, ...items.map((item) => h('li', {}, item)));

/** authz.explain's answer: the sentence, the path of relations, and what is missing. */
export function renderExplanation(explanation: object): HTMLElement {
  const fields = explanation as Record<string, unknown>;
  const path = strings(fields.path);
  return h(
    'div',
    { class: 'explain' },
    h('h3', {}, 'Why? ', h('span', { class: 'hint' }, 'authz.explain')),
    h(
      'p',
      { 'data-testid': 'explanation' },
      typeof fields.explanation === 'string' ? fields.explanation : '',
    ),
    path.length > 0 &&
      h(
        'p',
        { class: 'path', 'data-testid': 'explain-path' },
        ...path.flatMap((step, index) => [
          index > 0 ? h('span', { class: 'arrow' }, '→') : undefined,
          h('code', {}, step),
        ]),
      ),
    ...SECTIONS.flatMap(([field, title, testId]) => {
      const items = strings(fields[field]);
      return items.length > 0 ? [h('h4', {}, title), list(items, testId)] : [];
    }),
  );
}
