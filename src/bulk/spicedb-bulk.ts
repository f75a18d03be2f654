/**
 * The SpiceDB calls of bulk import and export, on the full authzed-node client: each with a
 * deadline, retried only when retrying is safe. Relationships are built as plain objects of the
 * protobuf shape (no per-field reflection), which the generated writers accept.
 */
import { Metadata, type ClientReadableStream } from '@grpc/grpc-js';
import { v1 } from '@authzed/authzed-node';
import { CallPolicy } from '../spicedb/call-policy.js';
import { GrpcStatus, grpcStatusOf } from '../spicedb/errors.js';
import { collectStream } from '../spicedb/streams.js';
import { chunk } from '../util/chunk.js';
import { caveatOf, timestampOf, tupleOf } from '../spicedb/proto.js';
import { identityOf, type RelationshipTuple } from './relationship.js';

export type BulkClient = v1.ZedClientInterface;

/** The bulk tools' limits; `bulkCallPolicy` makes them the one call policy's options. */
export interface RetryPolicy {
  /** attempts in all, the first included */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** the deadline of each call */
  callTimeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  callTimeoutMs: 60_000,
};

/** Bulk calls are long: a deadline on each attempt, and only the attempts bound the whole. */
export function bulkCallPolicy(retry: Partial<RetryPolicy> = {}): CallPolicy {
  const limits = { ...DEFAULT_RETRY, ...retry };
  return new CallPolicy({
    attemptTimeoutMs: limits.callTimeoutMs,
    totalTimeoutMs: Infinity,
    maxAttempts: limits.maxAttempts,
    baseDelayMs: limits.baseDelayMs,
    maxDelayMs: limits.maxDelayMs,
  });
}

export const isAlreadyExists = (error: unknown) =>
  grpcStatusOf(error)?.code === GrpcStatus.ALREADY_EXISTS;

export function toProto(t: RelationshipTuple): v1.Relationship {
  const relationship: v1.Relationship = {
    resource: { objectType: t.resourceType, objectId: t.resourceId },
    relation: t.relation,
    subject: {
      object: { objectType: t.subjectType, objectId: t.subjectId },
      optionalRelation: t.subjectRelation ?? '',
    },
  };
  if (t.expiresAt !== undefined) relationship.optionalExpiresAt = timestampOf(t.expiresAt);
  if (t.caveat !== undefined) relationship.optionalCaveat = caveatOf(t.caveat);
  return relationship;
}

export const fromProto = tupleOf;

/** TOUCH or DELETE updates of a batch (a delete names the relationship alone). */
export function updatesOf(
  operation: 'touch' | 'delete',
  batch: readonly RelationshipTuple[],
): v1.RelationshipUpdate[] {
  const op =
    operation === 'touch'
      ? v1.RelationshipUpdate_Operation.TOUCH
      : v1.RelationshipUpdate_Operation.DELETE;
  return batch.map((t) => ({
    operation: op,
    relationship: toProto(operation === 'delete' ? identityOf(t) : t),
  }));
}

/**
 * One WriteRelationships: TOUCH or DELETE of at most 1,000 relationships, atomically; retried,
 * as applying either twice is applying it once.
 */
export async function writeBatch(
  client: BulkClient,
  operation: 'touch' | 'delete',
  batch: readonly RelationshipTuple[],
  policy: CallPolicy,
  onRetry?: (error: unknown, attempt: number) => void,
): Promise<void> {
  const request: v1.WriteRelationshipsRequest = {
    updates: updatesOf(operation, batch),
    optionalPreconditions: [],
  };
  await policy.run(
    'WriteRelationships',
    'idempotent-write',
    (options) => client.promises.writeRelationships(request, new Metadata(), options),
    onRetry ? { onRetry } : {},
  );
}

/**
 * One ImportBulkRelationships stream: SpiceDB loads it in one transaction, all of it or none.
 * Messages of `messageSize` relationships; waits for the stream to drain before writing more.
 */
export function importChunk(
  client: BulkClient,
  relationships: readonly RelationshipTuple[],
  messageSize: number,
  policy: CallPolicy,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = client.importBulkRelationships(
      new Metadata(),
      policy.attemptOptions(),
      (error, response) => {
        if (error) reject(error);
        else resolve(Number(response?.numLoaded ?? 0));
      },
    );
    const messages = chunk(relationships, messageSize);
    let next = 0;
    const pump = () => {
      while (next < messages.length) {
        const message = (messages[next] as RelationshipTuple[]).map(toProto);
        next += 1;
        if (!stream.write({ relationships: message })) {
          stream.once('drain', pump);
          return;
        }
      }
      stream.end();
    };
    stream.on('error', () => {
      // reported through the callback
    });
    pump();
  });
}

/**
 * Which of `batch` are stored now, read back with CheckBulkPermissions on the relation itself.
 * Exact for relations whose subjects are plain objects (a subject set or a wildcard could make
 * a check true without the relationship): such relations are read with ReadRelationships.
 */
export async function readBack(
  client: BulkClient,
  batch: readonly RelationshipTuple[],
  exactByCheck: (t: RelationshipTuple) => boolean,
  policy: CallPolicy,
): Promise<boolean[]> {
  const present = new Array<boolean>(batch.length).fill(false);
  const byCheck: number[] = [];
  const byRead: number[] = [];
  batch.forEach((t, index) => (exactByCheck(t) ? byCheck : byRead).push(index));
  const fully: v1.Consistency = {
    requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true },
  };
  for (const indexes of chunk(byCheck, 500)) {
    const response = await policy.run('CheckBulkPermissions', 'read', (options) =>
      client.promises.checkBulkPermissions(
        {
          consistency: fully,
          withTracing: false,
          items: indexes.map((index) => {
            const t = batch[index] as RelationshipTuple;
            const { resource, subject } = toProto(t);
            const item: v1.CheckBulkPermissionsRequestItem = { permission: t.relation };
            if (resource) item.resource = resource;
            if (subject) item.subject = subject;
            return item;
          }),
        },
        new Metadata(),
        options,
      ),
    );
    indexes.forEach((index, position) => {
      const answer = response.pairs[position]?.response;
      if (answer?.oneofKind === 'error') {
        throw new Error(
          `reading back ${batch[index]?.relation ?? ''} failed: ${answer.error.message}`,
        );
      }
      present[index] =
        answer?.oneofKind === 'item' &&
        answer.item.permissionship === v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;
    });
  }
  for (const index of byRead) {
    const t = batch[index] as RelationshipTuple;
    const found = await policy.run('ReadRelationships', 'read', (options) =>
      collectStream(
        client.readRelationships(
          {
            consistency: fully,
            optionalLimit: 1,
            relationshipFilter: {
              resourceType: t.resourceType,
              optionalResourceId: t.resourceId,
              optionalResourceIdPrefix: '',
              optionalRelation: t.relation,
              optionalSubjectFilter: {
                subjectType: t.subjectType,
                optionalSubjectId: t.subjectId,
                ...(t.subjectRelation ? { optionalRelation: { relation: t.subjectRelation } } : {}),
              },
            },
          },
          new Metadata(),
          options,
        ),
      ),
    );
    present[index] = found.some(
      (r) => (r.relationship?.subject?.optionalRelation ?? '') === (t.subjectRelation ?? ''),
    );
  }
  return present;
}

export function exportStream(
  client: BulkClient,
  cursor: string | undefined,
  pageSize: number,
  policy: CallPolicy,
): ClientReadableStream<v1.ExportBulkRelationshipsResponse> {
  return client.exportBulkRelationships(
    {
      optionalLimit: pageSize,
      ...(cursor
        ? { optionalCursor: { token: cursor } }
        : {
            consistency: {
              requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true },
            },
          }),
    },
    new Metadata(),
    policy.attemptOptions(),
  );
}

/** The target SpiceDB's schema as its reflection (no definitions: it holds no schema). */
export async function reflectSchema(
  client: BulkClient,
  policy: CallPolicy,
): Promise<v1.ReflectSchemaResponse> {
  return policy.run('ReflectSchema', 'read', (options) =>
    client.promises.reflectSchema(
      v1.ReflectSchemaRequest.create({
        consistency: { requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } },
      }),
      new Metadata(),
      options,
    ),
  );
}

export async function readSchemaText(client: BulkClient, policy: CallPolicy): Promise<string> {
  const response = await policy.run('ReadSchema', 'read', (options) =>
    client.promises.readSchema({}, new Metadata(), options),
  );
  return response.schemaText;
}
