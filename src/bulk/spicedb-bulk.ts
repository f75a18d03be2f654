/**
 * The SpiceDB calls of bulk import and export, on the full authzed-node client: each with a
 * deadline, retried only when retrying is safe. Relationships are built as plain objects of the
 * protobuf shape (no per-field reflection), which the generated writers accept.
 */
import { Metadata, type ClientReadableStream } from '@grpc/grpc-js';
import { v1 } from '@authzed/authzed-node';
import { GrpcStatus, grpcStatusOf } from '../spicedb/errors.js';
import { tupleOf } from '../spicedb/proto.js';
import type { RelationshipTuple } from './relationship.js';

export type BulkClient = v1.ZedClientInterface;

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

/**
 * What may be retried: the server was unreachable or too slow, or a serialization conflict
 * aborted the transaction. Anything else (invalid argument, schema mismatch, permission) would
 * fail the same way again.
 */
export const RETRYABLE = new Set<number>([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.ABORTED,
]);

export const isRetryable = (error: unknown) => {
  const status = grpcStatusOf(error);
  return status !== undefined && RETRYABLE.has(status.code);
};

export const isAlreadyExists = (error: unknown) =>
  grpcStatusOf(error)?.code === GrpcStatus.ALREADY_EXISTS;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return ceiling * (0.5 + Math.random() / 2);
}

/** Runs `operation` until it succeeds, fails for good, or the attempts run out. */
export async function withRetries<T>(
  policy: RetryPolicy,
  operation: (attempt: number) => Promise<T>,
  onRetry?: (error: unknown, attempt: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!isRetryable(error) || attempt >= policy.maxAttempts) throw error;
      onRetry?.(error, attempt);
      await sleep(backoffDelay(policy, attempt));
    }
  }
}

export function describeError(error: unknown): string {
  const status = grpcStatusOf(error);
  if (status) return `${GrpcStatus[status.code]}: ${status.message}`;
  return error instanceof Error ? error.message : String(error);
}

export function toProto(t: RelationshipTuple): v1.Relationship {
  return {
    resource: { objectType: t.resourceType, objectId: t.resourceId },
    relation: t.relation,
    subject: {
      object: { objectType: t.subjectType, objectId: t.subjectId },
      optionalRelation: t.subjectRelation ?? '',
    },
  };
}

export const fromProto = tupleOf;

const deadline = (policy: RetryPolicy) => ({
  deadline: new Date(Date.now() + policy.callTimeoutMs),
});

/** One WriteRelationships call: TOUCH or DELETE of at most 1,000 relationships, atomically. */
export async function writeBatch(
  client: BulkClient,
  operation: 'touch' | 'delete',
  batch: readonly RelationshipTuple[],
  policy: RetryPolicy,
): Promise<void> {
  const op =
    operation === 'touch'
      ? v1.RelationshipUpdate_Operation.TOUCH
      : v1.RelationshipUpdate_Operation.DELETE;
  const request: v1.WriteRelationshipsRequest = {
    updates: batch.map((t) => ({ operation: op, relationship: toProto(t) })),
    optionalPreconditions: [],
  };
  await client.promises.writeRelationships(request, new Metadata(), deadline(policy));
}

/**
 * One ImportBulkRelationships stream: SpiceDB loads it in one transaction, all of it or none.
 * Messages of `messageSize` relationships; waits for the stream to drain before writing more.
 */
export function importChunk(
  client: BulkClient,
  chunk: readonly RelationshipTuple[],
  messageSize: number,
  policy: RetryPolicy,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = client.importBulkRelationships(
      new Metadata(),
      deadline(policy),
      (error, response) => {
        if (error) reject(error);
        else resolve(Number(response?.numLoaded ?? 0));
      },
    );
    let index = 0;
    const pump = () => {
      while (index < chunk.length) {
        const relationships = chunk.slice(index, index + messageSize).map(toProto);
        index += messageSize;
        if (!stream.write({ relationships })) {
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
  policy: RetryPolicy,
): Promise<boolean[]> {
  const present = new Array<boolean>(batch.length).fill(false);
  const byCheck: number[] = [];
  const byRead: number[] = [];
  batch.forEach((t, index) => (exactByCheck(t) ? byCheck : byRead).push(index));
  const fully: v1.Consistency = {
    requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true },
  };
  for (let start = 0; start < byCheck.length; start += 500) {
    const indexes = byCheck.slice(start, start + 500);
    const response = await withRetries(policy, () =>
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
        deadline(policy),
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
    const found = await withRetries(policy, () =>
      collect(
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
          deadline(policy),
        ),
      ),
    );
    present[index] = found.some(
      (r) => (r.relationship?.subject?.optionalRelation ?? '') === (t.subjectRelation ?? ''),
    );
  }
  return present;
}

function collect<T>(stream: ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const items: T[] = [];
    stream.on('data', (item: T) => items.push(item));
    stream.on('error', reject);
    stream.on('end', () => resolve(items));
  });
}

export function exportStream(
  client: BulkClient,
  cursor: string | undefined,
  pageSize: number,
  policy: RetryPolicy,
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
    deadline(policy),
  );
}

export async function readSchemaText(client: BulkClient, policy: RetryPolicy): Promise<string> {
  const response = await withRetries(policy, () =>
    client.promises.readSchema({}, new Metadata(), deadline(policy)),
  );
  return response.schemaText;
}
