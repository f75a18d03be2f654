import { status as GrpcStatus } from '@grpc/grpc-js';

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
  if (typeof candidate.code === 'number' && candidate.code in GrpcStatus) {
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

/**
 * SpiceDB reports a lost datastore (PostgreSQL down or restarting) as UNKNOWN or INTERNAL with
 * the driver's message: for callers that is SpiceDB being unavailable, not a service bug
 * (found by test/long/faults.test.ts).
 */
const DATASTORE_UNREACHABLE =
  /failed to connect|connection refused|dial error|dial tcp|conn closed|connection reset|unexpected EOF|database system is (starting up|shutting down|in recovery mode)|terminating connection|SQLSTATE 57P0[1-3]|the database system is/i;

export function datastoreUnreachable(info: SpiceDbErrorInfo): boolean {
  return (
    (info.code === GrpcStatus.UNKNOWN || info.code === GrpcStatus.INTERNAL) &&
    DATASTORE_UNREACHABLE.test(info.message)
  );
}

/** A one-line description of a SpiceDB failure for logs and tool output. */
export function describeError(error: unknown): string {
  const status = grpcStatusOf(error);
  if (status) return `${GrpcStatus[status.code]}: ${status.message}`;
  return error instanceof Error ? error.message : String(error);
}

export { GrpcStatus };
