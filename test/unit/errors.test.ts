import { TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { GrpcStatus, grpcStatusOf, isGrpcStatus } from '../../src/spicedb/errors.js';
import { toTRPCError, trpcCodeForGrpc } from '../../src/trpc/spicedb-errors.js';

/** Every numeric gRPC status the library knows. */
const ALL_STATUSES = Object.values(GrpcStatus).filter((v): v is number => typeof v === 'number');

/** Go's spelling of each status name, as SpiceDB's Go errors print it. */
const goName = (code: number): string => {
  const name = GrpcStatus[code] ?? '';
  if (name === 'CANCELLED') return 'Canceled';
  return name
    .toLowerCase()
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
};

describe('the gRPC -> tRPC map', () => {
  it('covers all 17 gRPC statuses', () => {
    expect(ALL_STATUSES).toHaveLength(17);
    for (const code of ALL_STATUSES) {
      expect(trpcCodeForGrpc(code), GrpcStatus[code]).toMatch(/^[A-Z_]+$/);
    }
  });

  it.each([
    [GrpcStatus.INVALID_ARGUMENT, 'BAD_REQUEST'],
    [GrpcStatus.FAILED_PRECONDITION, 'PRECONDITION_FAILED'],
    [GrpcStatus.ALREADY_EXISTS, 'CONFLICT'],
    [GrpcStatus.NOT_FOUND, 'NOT_FOUND'],
    [GrpcStatus.UNAVAILABLE, 'SERVICE_UNAVAILABLE'],
    [GrpcStatus.DEADLINE_EXCEEDED, 'SERVICE_UNAVAILABLE'],
    [GrpcStatus.RESOURCE_EXHAUSTED, 'TOO_MANY_REQUESTS'],
    // The service's own key refused is a deployment fault, never the caller's UNAUTHORIZED.
    [GrpcStatus.UNAUTHENTICATED, 'INTERNAL_SERVER_ERROR'],
    [GrpcStatus.PERMISSION_DENIED, 'INTERNAL_SERVER_ERROR'],
  ])('maps %s to %s', (grpc, trpc) => {
    expect(trpcCodeForGrpc(grpc)).toBe(trpc);
  });
});

describe('grpcStatusOf', () => {
  it('reads a grpc-js ServiceError, preferring its details', () => {
    const error = Object.assign(new Error('9 FAILED_PRECONDITION: unable to satisfy'), {
      code: GrpcStatus.FAILED_PRECONDITION,
      details: 'unable to satisfy write precondition',
    });
    expect(grpcStatusOf(error)).toEqual({
      code: GrpcStatus.FAILED_PRECONDITION,
      message: 'unable to satisfy write precondition',
    });
    expect(isGrpcStatus(error, GrpcStatus.ABORTED, GrpcStatus.FAILED_PRECONDITION)).toBe(true);
    expect(isGrpcStatus(error, GrpcStatus.ABORTED)).toBe(false);
  });

  it.each(ALL_STATUSES.filter((code) => GrpcStatus[code] !== 'OK'))(
    'parses the Go-style embedded error string of status %i',
    (code) => {
      const error = new Error(
        `write failed: rpc error: code = ${goName(code)} desc = something went wrong: detail`,
      );
      expect(grpcStatusOf(error)).toEqual({ code, message: 'something went wrong: detail' });
    },
  );

  it('keeps a multi-line Go description whole', () => {
    const error = new Error('rpc error: code = InvalidArgument desc = line one\nline two');
    expect(grpcStatusOf(error)).toEqual({
      code: GrpcStatus.INVALID_ARGUMENT,
      message: 'line one\nline two',
    });
  });

  it.each([
    ['a plain error', new Error('boom')],
    ['an unknown Go code', new Error('rpc error: code = Exploded desc = x')],
    ['a string', 'rpc error'],
    ['null', null],
    ['an out-of-range numeric code', Object.assign(new Error('x'), { code: 99 })],
    ['a string code (Node system error)', Object.assign(new Error('x'), { code: 'ECONNRESET' })],
  ])('answers undefined for %s', (_label, value) => {
    expect(grpcStatusOf(value)).toBeUndefined();
  });
});

describe('toTRPCError', () => {
  it('keeps the cause and the mapped code', () => {
    const cause = new Error('rpc error: code = AlreadyExists desc = relationship exists');
    const error = toTRPCError(cause, 'write failed');
    expect(error).toBeInstanceOf(TRPCError);
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toBe('write failed: relationship exists');
    expect(error.cause).toBe(cause);
  });

  it('says SpiceDB is unavailable without leaking its text', () => {
    const error = toTRPCError(
      Object.assign(new Error('14 UNAVAILABLE: No connection established'), {
        code: GrpcStatus.UNAVAILABLE,
      }),
    );
    expect(error.code).toBe('SERVICE_UNAVAILABLE');
    expect(error.message).toContain('SpiceDB is unavailable');
  });

  it('passes a TRPCError through and turns anything else into INTERNAL_SERVER_ERROR', () => {
    const original = new TRPCError({ code: 'FORBIDDEN', message: 'no' });
    expect(toTRPCError(original)).toBe(original);
    expect(toTRPCError(new TypeError('bug')).code).toBe('INTERNAL_SERVER_ERROR');
  });
});
