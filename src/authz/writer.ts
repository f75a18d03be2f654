import type { ReadConsistency, RequestedConsistency } from '../spicedb/consistency.js';
import { GrpcStatus, grpcStatusOf } from '../spicedb/errors.js';
import type { SpiceDbGateway } from '../spicedb/gateway.js';
import type { FilterSpec, RelationshipTuple, v1 } from '../spicedb/proto.js';
import { DomainError } from './errors.js';

/** SpiceDB's default limit of updates in one WriteRelationships call. */
export const MAX_UPDATES_PER_WRITE = 1_000;

export interface Written {
  zedToken: string;
}

/** Names a refused precondition, from the state read after the refusal (so nothing races). */
export type Explain = () => Promise<DomainError>;

const STRONG: ReadConsistency = { kind: 'fullyConsistent' };

/**
 * The writes every domain shares: one atomic WriteRelationships with preconditions, and the
 * resumable chunked form for changes larger than one write may hold.
 */
export class AuthzWriter {
  constructor(readonly spicedb: SpiceDbGateway) {}

  fresh(requested?: RequestedConsistency): ReadConsistency {
    return this.spicedb.consistency(requested);
  }

  /** Reads at the head revision: what a write's plan and its refusal's explanation rely on. */
  readStrong(spec: FilterSpec): Promise<RelationshipTuple[]> {
    return this.spicedb.readRelationships(spec, STRONG);
  }

  exists(spec: FilterSpec): Promise<boolean> {
    return this.spicedb.exists(spec, STRONG);
  }

  async write(
    updates: v1.RelationshipUpdate[],
    preconditions: v1.Precondition[],
    explain: Explain,
  ): Promise<Written> {
    try {
      return { zedToken: await this.spicedb.write(updates, preconditions) };
    } catch (error) {
      if (grpcStatusOf(error)?.code === GrpcStatus.FAILED_PRECONDITION) {
        const refusal = await explain();
        throw new DomainError(refusal.code, refusal.message, { cause: error });
      }
      throw error;
    }
  }

  /**
   * Atomic when it fits one write; larger changes keep their preconditions on every chunk, so
   * each chunk applies only while the change is still allowed. `last` (a few updates, such as
   * the relationships that authorize a retry) always goes in the final write, whole.
   */
  async writeInChunks(
    updates: v1.RelationshipUpdate[],
    preconditions: v1.Precondition[],
    explain: Explain,
    last: v1.RelationshipUpdate[] = [],
  ): Promise<Written> {
    if (updates.length + last.length <= MAX_UPDATES_PER_WRITE) {
      // One write, even an empty one: it checks the preconditions and yields a ZedToken.
      return this.write([...updates, ...last], preconditions, explain);
    }
    let written: Written = { zedToken: '' };
    for (let start = 0; start < updates.length; start += MAX_UPDATES_PER_WRITE) {
      written = await this.write(
        updates.slice(start, start + MAX_UPDATES_PER_WRITE),
        preconditions,
        explain,
      );
    }
    if (last.length > 0) written = await this.write(last, preconditions, explain);
    return written;
  }
}

/** The same relationship once, whatever filters found it. */
export function distinct(tuples: RelationshipTuple[]): RelationshipTuple[] {
  const unique = new Map<string, RelationshipTuple>();
  for (const t of tuples) {
    unique.set(
      `${t.resourceType}:${t.resourceId}#${t.relation}@${t.subjectType}:${t.subjectId}`,
      t,
    );
  }
  return [...unique.values()];
}
