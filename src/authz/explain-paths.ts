import type { TraceNode } from '../spicedb/trace.js';
import { checkedFormula, partsOf, type Formula } from './explain-formula.js';
import type { SchemaDefinitions } from './watch-scope.js';

/**
 * From SpiceDB's check trace to what explain answers: for an allowed check, the sub-problems
 * that together grant it (each a chain of trace nodes down to a stored relation the subject is
 * in); for a refused one, each alternative that would grant it and what it lacks.
 */

/** `type:id#relation` */
export type Onr = string;

export const onrOf = (node: TraceNode): Onr =>
  `${node.type}:${node.ids[0] ?? ''}#${node.permission}`;
export const objectOf = (onr: Onr): string => onr.slice(0, onr.lastIndexOf('#'));

export interface PathContext {
  definitions: SchemaDefinitions;
  /** `type:id` of the checked subject. */
  subject: string;
  /** The objects `object#relation` holds (an arrow's tupleset), `type:id`. */
  tupleset(object: string, relation: string): Promise<string[]>;
  /**
   * A sub-problem SpiceDB did not answer in the trace (it stops an intersection at its first
   * refused part), asked on its own with a traced check; undefined past explain's budget.
   */
  trace(object: string, permission: string): Promise<TraceNode | undefined>;
  /** The stored subject of a relation the subject was found in directly: itself or `type:*`. */
  directSubject(onr: Onr): Promise<string>;
}

/** One granting part: its chain of nodes (this node first, the stored relation last). */
export interface Need {
  chain: Onr[];
  /** The stored relationships along the chain, in zed notation. */
  relationships: string[];
}

const cost = (needs: Need[]) =>
  needs.reduce((sum, n) => sum + n.chain.length, 0) * 10 + needs.length;

function cheapest(options: Need[][]): Need[] | undefined {
  return options.sort((a, b) => cost(a) - cost(b))[0];
}

const below = (onr: Onr, needs: Need[], link?: string): Need[] =>
  needs.map((n) => ({
    chain: [onr, ...n.chain],
    relationships: link === undefined ? n.relationships : [link, ...n.relationships],
  }));

/** What grants `node` to the subject, fewest and shortest parts first; undefined if not held. */
export async function heldBy(ctx: PathContext, node: TraceNode): Promise<Need[] | undefined> {
  if (node.result !== 'has') return undefined;
  const onr = onrOf(node);
  if (node.kind === 'relation') {
    const held = node.children.filter((c) => c.result === 'has');
    if (held.length === 0) {
      return [{ chain: [onr], relationships: [`${onr}@${await ctx.directSubject(onr)}`] }];
    }
    // Found through a subject set (`group:x#member`) stored on this relation.
    const options = await Promise.all(held.map((c) => viaChild(ctx, onr, c, `${onr}@${onrOf(c)}`)));
    return cheapest(options.filter((o) => o !== undefined));
  }
  const formula = checkedFormula(ctx.definitions, node, ctx.subject);
  if (formula !== undefined) return heldFormula(ctx, node, formula);
  if (node.children.length === 0) return [{ chain: [onr], relationships: [] }];
  // The trace alone: any granting sub-problem.
  const options = await Promise.all(
    node.children.filter((c) => c.result === 'has').map((c) => viaChild(ctx, onr, c)),
  );
  return cheapest(options.filter((o) => o !== undefined));
}

async function viaChild(ctx: PathContext, onr: Onr, child: TraceNode, link?: string) {
  const needs = await heldBy(ctx, child);
  return needs && below(onr, needs, link);
}

async function heldFormula(
  ctx: PathContext,
  node: TraceNode,
  formula: Formula,
): Promise<Need[] | undefined> {
  const onr = onrOf(node);
  switch (formula.op) {
    case 'nil':
      return undefined;
    case 'self':
      return ctx.subject === objectOf(onr) ? [{ chain: [onr], relationships: [] }] : undefined;
    case 'computed':
    case 'arrow': {
      const options = await Promise.all(
        partsOf(ctx.definitions, node, formula).map((c) =>
          viaChild(
            ctx,
            onr,
            c,
            formula.op === 'arrow'
              ? `${objectOf(onr)}#${formula.tupleset}@${objectOf(onrOf(c))}`
              : undefined,
          ),
        ),
      );
      const held = options.filter((o) => o !== undefined);
      if (formula.op === 'arrow' && formula.all) {
        return held.length === options.length && held.length > 0 ? held.flat() : undefined;
      }
      return cheapest(held);
    }
    case 'union': {
      const options = await Promise.all(formula.parts.map((p) => heldFormula(ctx, node, p)));
      return cheapest(options.filter((o) => o !== undefined));
    }
    case 'intersection': {
      const parts = await Promise.all(formula.parts.map((p) => heldFormula(ctx, node, p)));
      return parts.every((p) => p !== undefined) ? parts.flat() : undefined;
    }
    case 'exclusion':
      // The excluded part is not held (SpiceDB answered so): what grants is the base.
      return heldFormula(ctx, node, formula.base);
  }
}

/** One way the permission could be granted: what the subject lacks of it, and holds. */
export interface Alternative {
  lacking: string[];
  held: string[];
}

const MAX_ALTERNATIVES = 200;

function product(groups: Alternative[][]): Alternative[] {
  let combined: Alternative[] = [{ lacking: [], held: [] }];
  for (const options of groups) {
    combined = combined
      .flatMap((left) =>
        options.map((right) => ({
          lacking: [...left.lacking, ...right.lacking],
          held: [...left.held, ...right.held],
        })),
      )
      .slice(0, MAX_ALTERNATIVES);
  }
  return combined;
}

/** What would grant `node` (held parts have nothing lacking). */
export async function alternativesOf(ctx: PathContext, node: TraceNode): Promise<Alternative[]> {
  const onr = onrOf(node);
  if (node.result === 'has') return [{ lacking: [], held: [onr] }];
  if (node.kind === 'relation') {
    // The relation itself, or any subject set stored on it that would hold the subject.
    const nested = await Promise.all(node.children.map((c) => alternativesOf(ctx, c)));
    return [{ lacking: [onr], held: [] }, ...nested.flat()].slice(0, MAX_ALTERNATIVES);
  }
  const formula = checkedFormula(ctx.definitions, node, ctx.subject);
  if (formula !== undefined) return alternativesFormula(ctx, node, formula);
  if (node.children.length === 0) return [{ lacking: [onr], held: [] }];
  const nested = await Promise.all(node.children.map((c) => alternativesOf(ctx, c)));
  return nested.flat().slice(0, MAX_ALTERNATIVES);
}

async function alternativesFormula(
  ctx: PathContext,
  node: TraceNode,
  formula: Formula,
): Promise<Alternative[]> {
  const onr = onrOf(node);
  const object = objectOf(onr);
  switch (formula.op) {
    case 'nil':
      return [];
    case 'self':
      return ctx.subject === object ? [{ lacking: [], held: [onr] }] : [];
    case 'computed':
    case 'arrow': {
      const found = partsOf(ctx.definitions, node, formula);
      const parts = found.length > 0 ? found : await unanswered(ctx, object, formula);
      if (parts === undefined) {
        const unknown =
          formula.op === 'computed' ? formula.name : `${formula.tupleset}->${formula.target}`;
        return [{ lacking: [`${object}#${unknown}`], held: [] }];
      }
      // No object through the tupleset: a cluster in no project.
      if (parts.length === 0 && formula.op === 'arrow') {
        return [{ lacking: [`${object}#${formula.tupleset}`], held: [] }];
      }
      const nested = await Promise.all(parts.map((c) => alternativesOf(ctx, c)));
      if (formula.op === 'arrow' && formula.all) return product(nested);
      return nested.flat().slice(0, MAX_ALTERNATIVES);
    }
    case 'union': {
      const nested = await Promise.all(formula.parts.map((p) => alternativesFormula(ctx, node, p)));
      return nested.flat().slice(0, MAX_ALTERNATIVES);
    }
    case 'intersection':
      return product(
        await Promise.all(formula.parts.map((p) => alternativesFormula(ctx, node, p))),
      );
    case 'exclusion': {
      const [base, minus] = await Promise.all([
        alternativesFormula(ctx, node, formula.base),
        alternativesFormula(ctx, node, formula.minus),
      ]);
      // What the subject holds of the excluded part is what takes the permission away.
      const excluded = minus.filter((a) => a.lacking.length === 0).flatMap((a) => a.held);
      if (excluded.length === 0) return base;
      return base.map((a) => ({
        lacking: [...a.lacking, ...excluded.map((e) => `not ${e}`)],
        held: a.held,
      }));
    }
  }
}

/** The parts of a term SpiceDB did not answer, asked one by one; undefined past the budget. */
async function unanswered(
  ctx: PathContext,
  object: string,
  term: Extract<Formula, { op: 'computed' | 'arrow' }>,
): Promise<TraceNode[] | undefined> {
  const asked =
    term.op === 'computed'
      ? [ctx.trace(object, term.name)]
      : (await ctx.tupleset(object, term.tupleset))
          // SpiceDB follows an arrow only to the types that have its target.
          .filter((o) => defines(ctx.definitions, o.slice(0, o.indexOf(':')), term.target))
          .map((o) => ctx.trace(o, term.target));
  const parts = await Promise.all(asked);
  return parts.every((p) => p !== undefined) ? parts : undefined;
}

function defines(definitions: SchemaDefinitions, type: string, name: string): boolean {
  const definition = Object.hasOwn(definitions, type) ? definitions[type] : undefined;
  return (
    definition !== undefined &&
    (Object.hasOwn(definition.relations, name) || Object.hasOwn(definition.permissions, name))
  );
}

/** Every permission node of the trace, for the rules an answer quotes. */
export function permissionNodes(node: TraceNode): TraceNode[] {
  return [...(node.kind === 'permission' ? [node] : []), ...node.children.flatMap(permissionNodes)];
}
