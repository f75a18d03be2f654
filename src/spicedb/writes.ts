import { Metadata } from '@grpc/grpc-js';
import type { CallPolicy } from './call-policy.js';
import type { SpiceDbApi } from './connection.js';
import type { WriteTokenTracker } from './consistency.js';
import { GrpcStatus, grpcStatusOf } from './errors.js';
import { v1 } from './proto.js';

/** Refusals that applied nothing; after any other failure the write may have applied. */
const NOT_APPLIED = [
  GrpcStatus.FAILED_PRECONDITION,
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.ALREADY_EXISTS,
];

/** One atomic WriteRelationships with its preconditions; returns the ZedToken. */
export async function writeRelationships(
  api: SpiceDbApi,
  policy: CallPolicy,
  tokens: WriteTokenTracker,
  updates: v1.RelationshipUpdate[],
  preconditions: v1.Precondition[] = [],
): Promise<string> {
  const finish = tokens.beginWrite();
  try {
    const response = await policy.run('WriteRelationships', 'write', (options) =>
      api.writeRelationships(
        v1.WriteRelationshipsRequest.create({ updates, optionalPreconditions: preconditions }),
        new Metadata(),
        options,
      ),
    );
    const token = response.writtenAt?.token ?? '';
    finish(token);
    return token;
  } catch (error) {
    const status = grpcStatusOf(error);
    const applied = status === undefined || !NOT_APPLIED.includes(status.code);
    finish(applied ? 'unknown' : 'not-applied');
    throw error;
  }
}
