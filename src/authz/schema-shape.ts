/**
 * The structure of a schema text (definitions, relations with their subject types, permissions
 * with their expressions) for the watch scope. Interim: replaced by the generated schema module
 * (src/authz/schema.generated.ts) once it lands.
 */
import type { SchemaShape, SchemaShapeSubjectType } from './watch-scope.js';

function subjectTypeOf(text: string): SchemaShapeSubjectType {
  const expiration = /\bwith\s+(?:\w+\s+and\s+)?expiration\b/.test(text);
  const bare = text.replace(/\bwith\b.*$/, '').trim();
  const wildcard = bare.endsWith(':*');
  const [type = '', relation] = bare.replace(/:\*$/, '').split('#');
  return {
    type,
    ...(relation ? { relation } : {}),
    ...(wildcard ? { wildcard } : {}),
    ...(expiration ? { expiration } : {}),
  };
}

export function schemaShapeOf(text: string): SchemaShape {
  const source = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const definitions: Array<{
    name: string;
    relations: Array<{ name: string; subjectTypes: SchemaShapeSubjectType[] }>;
    permissions: Array<{ name: string; expression: string }>;
  }> = [];
  for (const match of source.matchAll(/definition\s+([\w/]+)\s*\{([^}]*)\}/g)) {
    const [, name = '', body = ''] = match;
    const definition = { name, relations: [], permissions: [] } as (typeof definitions)[number];
    for (const line of body.split('\n').map((l) => l.trim())) {
      const relation = /^relation\s+(\w+)\s*:\s*(.+)$/.exec(line);
      if (relation) {
        definition.relations.push({
          name: relation[1] ?? '',
          subjectTypes: (relation[2] ?? '').split('|').map((s) => subjectTypeOf(s.trim())),
        });
      }
      const permission = /^permission\s+(\w+)\s*=\s*(.+)$/.exec(line);
      if (permission) {
        definition.permissions.push({ name: permission[1] ?? '', expression: permission[2] ?? '' });
      }
    }
    definitions.push(definition);
  }
  return { definitions };
}
