import type { ReadConsistency } from '../spicedb/consistency.js';
import type { ObjectId, SpiceDbGateway, TraceNode } from '../spicedb/gateway.js';
import type { Onr, PathContext } from './explain-paths.js';
import type { SchemaDefinitions } from './watch-scope.js';

/** Traced checks one explanation may add (batched sub-problems, unanswered parts). */
const MAX_RETRACES = 32;

const split = (object: string) => ({
  type: object.slice(0, object.indexOf(':')),
  id: object.slice(object.indexOf(':') + 1),
});
const objectOf = (onr: Onr): string => onr.slice(0, onr.lastIndexOf('#'));

/**
 * What explain reads besides the first trace, all at the check's revision or later: traced
 * checks of single objects (SpiceDB batches an arrow's objects into one sub-problem,
 * `project:a,b#…`, and stops an intersection at its first refused part), a tupleset's objects,
 * and whether a relation the subject is in holds it directly or through `type:*`.
 */
export class ExplainReads {
  private readonly budget = { left: MAX_RETRACES };

  constructor(
    private readonly gateway: SpiceDbGateway,
    private readonly subject: ObjectId,
    private readonly read: ReadConsistency,
  ) {}

  /**
   * The trace with every batched node replaced by one traced check per object, so each node
   * names one object. Past the budget a batched node is dropped: explain names no object it
   * did not see on its own.
   */
  async unbatched(node: TraceNode): Promise<TraceNode[]> {
    if (node.ids.length > 1) {
      const ids = node.ids.slice(0, Math.max(0, this.budget.left));
      const traces = await Promise.all(
        ids.map((id) => this.traceOf(node.type, id, node.permission)),
      );
      return traces.flatMap((t) => (t === undefined ? [] : [t]));
    }
    const children = await Promise.all(node.children.map((c) => this.unbatched(c)));
    return [{ ...node, children: children.flat() }];
  }

  private async traceOf(type: string, id: string, permission: string) {
    if (this.budget.left <= 0) return undefined;
    this.budget.left -= 1;
    const checked = await this.gateway.checkWithTrace(
      { resource: { type, id }, permission, subject: this.subject },
      this.read,
    );
    return checked.trace && (await this.unbatched(checked.trace))[0];
  }

  context(definitions: SchemaDefinitions): PathContext {
    const subject = `${this.subject.type}:${this.subject.id}`;
    return {
      definitions,
      subject,
      trace: (object, permission) => {
        const { type, id } = split(object);
        return this.traceOf(type, id, permission);
      },
      tupleset: async (object, relation) => {
        const { type, id } = split(object);
        const found = await this.gateway.readRelationships(
          { resourceType: type, resourceId: id, relation },
          this.read,
        );
        return found.map((r) => `${r.subjectType}:${r.subjectId}`);
      },
      directSubject: async (onr) => {
        const { type, id } = split(objectOf(onr));
        const filter = {
          resourceType: type,
          resourceId: id,
          relation: onr.slice(onr.lastIndexOf('#') + 1),
          subjectType: this.subject.type,
        };
        if (await this.gateway.exists({ ...filter, subjectId: this.subject.id }, this.read)) {
          return subject;
        }
        const wildcard = await this.gateway.exists({ ...filter, subjectId: '*' }, this.read);
        return wildcard ? `${this.subject.type}:*` : subject;
      },
    };
  }
}
