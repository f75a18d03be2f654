/**
 * What schema.zed allows to be written, read from the schema text itself: for every definition,
 * its relations and the subject types each accepts (`relation r: a | b#c | d:*`). Permissions
 * are remembered too, so that a file naming one can be told it is not a relation.
 */

export interface AllowedSubject {
  type: string;
  /** `b#c` in the schema: the subject must carry relation `c`. */
  relation?: string;
  /** `d:*` in the schema. */
  wildcard?: boolean;
}

export interface DefinitionRules {
  relations: Map<string, AllowedSubject[]>;
  permissions: Set<string>;
}

export type SchemaRules = Map<string, DefinitionRules>;

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
}

/** A definition body, found by matching braces so nested `{ }` (none today) cannot confuse it. */
function definitionBodies(text: string): Array<{ name: string; body: string }> {
  const found: Array<{ name: string; body: string }> = [];
  const header = /\b(definition|caveat)\s+([a-z][a-z0-9_/]*)\s*(\([^)]*\))?\s*\{/g;
  let match: RegExpExecArray | null;
  while ((match = header.exec(text)) !== null) {
    let depth = 1;
    let index = header.lastIndex;
    while (index < text.length && depth > 0) {
      const char = text[index];
      if (char === '{') depth += 1;
      else if (char === '}') depth -= 1;
      index += 1;
    }
    if (match[1] === 'definition' && match[2] !== undefined) {
      found.push({ name: match[2], body: text.slice(header.lastIndex, index - 1) });
    }
    header.lastIndex = index;
  }
  return found;
}

function parseAllowed(expression: string): AllowedSubject[] {
  return (
    expression
      .split('|')
      .map((part) => part.trim().replace(/\s+with\s+[a-z][a-z0-9_/]*(\s+and\s+expiration)?$/, ''))
      .map((part) => part.replace(/\s+with\s+expiration$/, '').trim())
      .filter((part) => part.length > 0)
      .map((part): AllowedSubject => {
        if (part.endsWith(':*')) return { type: part.slice(0, -2), wildcard: true };
        const [type = part, relation] = part.split('#');
        return relation === undefined ? { type } : { type, relation };
      })
      // `user | user with expiration` accepts one subject type, `user`: listed once.
      .filter(
        (entry, index, all) =>
          all.findIndex(
            (other) =>
              other.type === entry.type &&
              other.relation === entry.relation &&
              other.wildcard === entry.wildcard,
          ) === index,
      )
  );
}

export function parseSchemaRules(schemaText: string): SchemaRules {
  const rules: SchemaRules = new Map();
  for (const { name, body } of definitionBodies(stripComments(schemaText))) {
    const relations = new Map<string, AllowedSubject[]>();
    const permissions = new Set<string>();
    const relationLine = /\brelation\s+([a-z][a-z0-9_]*)\s*:\s*([^\n;]+)/g;
    for (const m of body.matchAll(relationLine)) {
      if (m[1] !== undefined && m[2] !== undefined) relations.set(m[1], parseAllowed(m[2]));
    }
    for (const m of body.matchAll(/\bpermission\s+([a-z][a-z0-9_]*)\s*=/g)) {
      if (m[1] !== undefined) permissions.add(m[1]);
    }
    rules.set(name, { relations, permissions });
  }
  if (rules.size === 0) throw new Error('schema.zed holds no definition');
  return rules;
}

/** True when the schema lets `resourceType#relation` point at `subjectType(#subjectRelation)`. */
export function allowsSubject(
  rules: SchemaRules,
  resourceType: string,
  relation: string,
  subjectType: string,
  subjectRelation?: string,
): boolean {
  const allowed = rules.get(resourceType)?.relations.get(relation);
  return (
    allowed?.some(
      (entry) =>
        entry.type === subjectType && !entry.wildcard && entry.relation === subjectRelation,
    ) ?? false
  );
}

/** `a | b#c`, for messages. */
export function describeAllowed(allowed: readonly AllowedSubject[]): string {
  return allowed
    .map((entry) =>
      entry.wildcard
        ? `${entry.type}:*`
        : entry.relation
          ? `${entry.type}#${entry.relation}`
          : entry.type,
    )
    .join(' | ');
}
