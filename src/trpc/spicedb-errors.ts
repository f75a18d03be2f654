import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import { datastoreUnreachable, GrpcStatus, grpcStatusOf } from '../spicedb/errors.js';
import { CONSISTENCY_REFUSED, INVALID_REVISION } from '../spicedb/zedtoken.js';

/** Every gRPC status SpiceDB can answer with, mapped to the tRPC code callers see. */
const GRPC_TO_TRPC: Record<GrpcStatus, TRPC_ERROR_CODE_KEY> = {
  [GrpcStatus.OK]: 'INTERNAL_SERVER_ERROR',
  [GrpcStatus.CANCELLED]: 'CLIENT_CLOSED_REQUEST',
  [GrpcStatus.UNKNOWN]: 'INTERNAL_SERVER_ERROR',
  [GrpcStatus.INVALID_ARGUMENT]: 'BAD_REQUEST',
  // A deadline that expires means SpiceDB did not answer in time: the caller may retry later.
  [GrpcStatus.DEADLINE_EXCEEDED]: 'SERVICE_UNAVAILABLE',
  [GrpcStatus.NOT_FOUND]: 'NOT_FOUND',
  [GrpcStatus.ALREADY_EXISTS]: 'CONFLICT',
  // SpiceDB refusing the service's own preshared key is a deployment fault, not the caller's.
  [GrpcStatus.PERMISSION_DENIED]: 'INTERNAL_SERVER_ERROR',
  [GrpcStatus.RESOURCE_EXHAUSTED]: 'TOO_MANY_REQUESTS',
  [GrpcStatus.FAILED_PRECONDITION]: 'PRECONDITION_FAILED',
  [GrpcStatus.ABORTED]: 'CONFLICT',
  [GrpcStatus.OUT_OF_RANGE]: 'BAD_REQUEST',
  [GrpcStatus.UNIMPLEMENTED]: 'NOT_IMPLEMENTED',
  [GrpcStatus.INTERNAL]: 'INTERNAL_SERVER_ERROR',
  [GrpcStatus.UNAVAILABLE]: 'SERVICE_UNAVAILABLE',
  [GrpcStatus.DATA_LOSS]: 'INTERNAL_SERVER_ERROR',
  [GrpcStatus.UNAUTHENTICATED]: 'INTERNAL_SERVER_ERROR',
};

export function trpcCodeForGrpc(code: GrpcStatus): TRPC_ERROR_CODE_KEY {
  return GRPC_TO_TRPC[code];
}

/** SpiceDB refusing the revision of a caller's ZedToken: BAD_REQUEST naming `consistency`. */
export function consistencyRefusal(error: unknown): TRPCError | undefined {
  const info = grpcStatusOf(error);
  // INVALID_ARGUMENT for the whole call; CheckBulkPermissions items say OUT_OF_RANGE.
  const refused =
    info?.code === GrpcStatus.INVALID_ARGUMENT || info?.code === GrpcStatus.OUT_OF_RANGE;
  if (!refused || !INVALID_REVISION.test(info.message)) return undefined;
  return new TRPCError({ code: 'BAD_REQUEST', message: CONSISTENCY_REFUSED, cause: error });
}

/** Turns any SpiceDB failure into the tRPC error callers see, keeping the original as `cause`. */
export function toTRPCError(error: unknown, context = 'SpiceDB request failed'): TRPCError {
  if (error instanceof TRPCError) return error;
  const info = grpcStatusOf(error);
  if (info === undefined) {
    return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: context, cause: error });
  }
  const refusal = consistencyRefusal(error);
  if (refusal !== undefined) return refusal;
  const code = datastoreUnreachable(info) ? 'SERVICE_UNAVAILABLE' : GRPC_TO_TRPC[info.code];
  const message =
    code === 'SERVICE_UNAVAILABLE'
      ? `${context}: SpiceDB is unavailable (${GrpcStatus[info.code]})`
      : `${context}: ${info.message}`;
  return new TRPCError({ code, message, cause: error });
}
