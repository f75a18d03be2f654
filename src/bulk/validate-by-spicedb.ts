/**
 * SpiceDB's own verdict on relationships, without writing them: a WriteRelationships of the
 * batch with two preconditions that cannot both hold (MUST_MATCH and MUST_NOT_MATCH of one
 * filter). SpiceDB validates every update against its schema (relation, subject types, caveats
 * and their context's types, expirations) before it evaluates preconditions, inside one
 * transaction (WriteRelationships in internal/services/v1/relationships.go): a batch that fits
 * fails on the precondition and nothing is written; a batch that does not fit fails with
 * SpiceDB's message for one of its relationships, and halving finds each one.
 */
import { Metadata } from '@grpc/grpc-js';
import { v1 } from '@authzed/authzed-node';
import type { CallPolicy } from '../spicedb/call-policy.js';
import { datastoreUnreachable, GrpcStatus, grpcStatusOf } from '../spicedb/errors.js';
import type { RelationshipTuple } from './relationship.js';
import { updatesOf, type BulkClient } from './spicedb-bulk.js';

const PRECONDITION_FAILED = /unable to satisfy write precondition/;

/** Statuses that are SpiceDB's judgement of the relationships, not of the call. */
const VERDICTS = new Set<GrpcStatus>([
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.FAILED_PRECONDITION,
  GrpcStatus.NOT_FOUND,
  GrpcStatus.OUT_OF_RANGE,
  GrpcStatus.UNKNOWN,
]);

/** SpiceDB's message refusing the batch, or undefined when every relationship fits. */
async function verdict(
  client: BulkClient,
  operation: 'touch' | 'delete',
  batch: readonly RelationshipTuple[],
  policy: CallPolicy,
): Promise<string | undefined> {
  const first = batch[0] as RelationshipTuple;
  const filter: v1.RelationshipFilter = {
    resourceType: first.resourceType,
    optionalResourceId: first.resourceId,
    optionalResourceIdPrefix: '',
    optionalRelation: first.relation,
  };
  const request: v1.WriteRelationshipsRequest = {
    updates: updatesOf(operation, batch),
    optionalPreconditions: [
      { operation: v1.Precondition_Operation.MUST_MATCH, filter },
      { operation: v1.Precondition_Operation.MUST_NOT_MATCH, filter },
    ],
  };
  try {
    await policy.run('WriteRelationships (validation only)', 'read', (options) =>
      client.promises.writeRelationships(request, new Metadata(), options),
    );
  } catch (error) {
    const status = grpcStatusOf(error);
    if (
      status?.code === GrpcStatus.FAILED_PRECONDITION &&
      PRECONDITION_FAILED.test(status.message)
    ) {
      return undefined;
    }
    if (status && VERDICTS.has(status.code) && !datastoreUnreachable(status)) return status.message;
    throw error;
  }
  throw new Error('SpiceDB wrote a batch whose preconditions cannot hold: stopping');
}

export interface Refusal<T> {
  item: T;
  message: string;
}

/**
 * SpiceDB's refusals among `items` (each carrying one relationship), at most 1,000 a call, with
 * SpiceDB's message for each refused one. Calls: one per batch that fits; about 2·log2(n) more
 * for each refused relationship.
 */
export async function refusedBySpiceDb<T extends { relationship: RelationshipTuple }>(
  client: BulkClient,
  operation: 'touch' | 'delete',
  items: readonly T[],
  policy: CallPolicy,
): Promise<Refusal<T>[]> {
  if (items.length === 0) return [];
  const message = await verdict(
    client,
    operation,
    items.map((i) => i.relationship),
    policy,
  );
  if (message === undefined) return [];
  if (items.length === 1) return [{ item: items[0] as T, message }];
  const half = Math.ceil(items.length / 2);
  return [
    ...(await refusedBySpiceDb(client, operation, items.slice(0, half), policy)),
    ...(await refusedBySpiceDb(client, operation, items.slice(half), policy)),
  ];
}
