import { status as GrpcStatus } from '@grpc/grpc-js';
import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';

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

/** The embedded SpiceDB reports errors as Go strings: `rpc error: code = AlreadyExists desc = ...`. */
const GO_CODE_NAMES: Record<string, GrpcStatus> = {
  Canceled: GrpcStatus.CANCELLED,
  Unknown: GrpcStatus.UNKNOWN,
  InvalidArgument: GrpcStatus.INVALID_ARGUMENT,
  DeadlineExceeded: GrpcStatus.DEADLINE_EXCEEDED,
  NotFound: GrpcStatus.NOT_FOUND,
  AlreadyExists: GrpcStatus.ALREADY_EXISTS,
  PermissionDenied: GrpcStatus.PERMISSION_DENIED,
  ResourceExhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  FailedPrecondition: GrpcStatus.FAILED_PRECONDITION,
  Aborted: GrpcStatus.ABORTED,
  OutOfRange: GrpcStatus.OUT_OF_RANGE,
  Unimplemented: GrpcStatus.UNIMPLEMENTED,
  Internal: GrpcStatus.INTERNAL,
  Unavailable: GrpcStatus.UNAVAILABLE,
  DataLoss: GrpcStatus.DATA_LOSS,
  Unauthenticated: GrpcStatus.UNAUTHENTICATED,
};

export interface SpiceDbErrorInfo {
  code: GrpcStatus;
  message: string;
}

/** The gRPC status of an error from either the network client or the embedded library. */
export function grpcStatusOf(error: unknown): SpiceDbErrorInfo | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const candidate = error as { code?: unknown; details?: unknown; message?: unknown };
  if (typeof candidate.code === 'number' && candidate.code in GRPC_TO_TRPC) {
    const details = typeof candidate.details === 'string' ? candidate.details : '';
    const message = typeof candidate.message === 'string' ? candidate.message : '';
    return { code: candidate.code as GrpcStatus, message: details || message };
  }
  if (typeof candidate.message === 'string') {
    const match = /rpc error: code = (\w+) desc = ([\s\S]*)/.exec(candidate.message);
    const name = match?.[1];
    if (name !== undefined && name in GO_CODE_NAMES) {
      return { code: GO_CODE_NAMES[name] as GrpcStatus, message: match?.[2] ?? '' };
    }
  }
  return undefined;
}

export function isGrpcStatus(error: unknown, ...codes: GrpcStatus[]): boolean {
  const info = grpcStatusOf(error);
  return info !== undefined && codes.includes(info.code);
}

export function trpcCodeForGrpc(code: GrpcStatus): TRPC_ERROR_CODE_KEY {
  return GRPC_TO_TRPC[code];
}

/** Turns any SpiceDB failure into the tRPC error callers see, keeping the original as `cause`. */
/**
 * SpiceDB reports a lost datastore (PostgreSQL down or restarting) as UNKNOWN or INTERNAL with
 * the driver's message: for callers that is SpiceDB being unavailable, not a service bug
 * (found by test/long/faults.test.ts).
 */
const DATASTORE_UNREACHABLE =
  /failed to connect|connection refused|dial error|dial tcp|conn closed|connection reset|unexpected EOF|database system is (starting up|shutting down|in recovery mode)|terminating connection|SQLSTATE 57P0[1-3]|the database system is/i;

function datastoreUnreachable(info: SpiceDbErrorInfo): boolean {
  return (
    (info.code === GrpcStatus.UNKNOWN || info.code === GrpcStatus.INTERNAL) &&
    DATASTORE_UNREACHABLE.test(info.message)
  );
}

export function toTRPCError(error: unknown, context = 'SpiceDB request failed'): TRPCError {
  if (error instanceof TRPCError) return error;
  const info = grpcStatusOf(error);
  if (info === undefined) {
    return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: context, cause: error });
  }
  const code = datastoreUnreachable(info) ? 'SERVICE_UNAVAILABLE' : GRPC_TO_TRPC[info.code];
  const message =
    code === 'SERVICE_UNAVAILABLE'
      ? `${context}: SpiceDB is unavailable (${GrpcStatus[info.code]})`
      : `${context}: ${info.message}`;
  return new TRPCError({ code, message, cause: error });
}

export { GrpcStatus };
