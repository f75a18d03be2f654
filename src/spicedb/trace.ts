import { Metadata } from '@grpc/grpc-js';
import type { CheckItem } from './batching.js';
import type { CallPolicy } from './call-policy.js';
import type { SpiceDbApi } from './connection.js';
import type { ReadConsistency, WriteTokenTracker } from './consistency.js';
import { consistencyOf, objectReference, subjectReference, v1 } from './proto.js';

/**
 * CheckPermission with `withTracing: true`: SpiceDB's answer and its debug trace (what
 * `zed permission check --explain` prints), as plain data. No protobuf object leaves this file.
 *
 * The trace is the tree of sub-problems SpiceDB dispatched to answer the check: one node per
 * `type:id#permission` (or relation) it asked, with its result. Within one permission the
 * expression's operators are not in the trace (a union, an intersection and an exclusion all
 * list their parts as sub-problems); arrows and subject sets appear as nodes on other objects.
 */

export type TraceResult = 'has' | 'no' | 'conditional';

export interface TraceNode {
  type: string;
  /** Several when SpiceDB batched sub-problems (an arrow to many objects): `objectId` is `a,b`. */
  ids: string[];
  /** The permission or relation asked. */
  permission: string;
  kind: 'relation' | 'permission';
  result: TraceResult;
  /** Answered from SpiceDB's cache: its sub-problems are not in the trace. */
  cached: boolean;
  children: TraceNode[];
  /** The caveat evaluated at this step, if any (`name: expression`). */
  caveat?: string;
}

export interface TracedCheck {
  allowed: boolean;
  /** SpiceDB answered CONDITIONAL_PERMISSION: a caveat lacked context. */
  conditional: boolean;
  /** ZedToken of the revision the check was computed at. */
  checkedAt: string;
  /** Undefined if SpiceDB sent no trace. */
  trace: TraceNode | undefined;
}

type ProtoTrace = NonNullable<NonNullable<v1.CheckPermissionResponse['debugTrace']>['check']>;

/** authzed-node exports no values for debug.proto's enums: CheckDebugTrace.PermissionType / Permissionship. */
const PERMISSION_TYPE_PERMISSION = 2;
const RESULTS: Record<number, TraceResult> = { 1: 'no', 2: 'has', 3: 'conditional' };

export function traceNodeOf(trace: ProtoTrace): TraceNode {
  const resolution = trace.resolution;
  const node: TraceNode = {
    type: trace.resource?.objectType ?? '',
    ids: (trace.resource?.objectId ?? '').split(',').filter((id) => id !== ''),
    permission: trace.permission,
    kind:
      (trace.permissionType as number) === PERMISSION_TYPE_PERMISSION ? 'permission' : 'relation',
    result: RESULTS[trace.result as number] ?? 'no',
    cached: resolution.oneofKind === 'wasCachedResult' && resolution.wasCachedResult,
    children:
      resolution.oneofKind === 'subProblems' ? resolution.subProblems.traces.map(traceNodeOf) : [],
  };
  const caveat = trace.caveatEvaluationInfo;
  if (caveat && (caveat.caveatName || caveat.expression)) {
    node.caveat = `${caveat.caveatName}: ${caveat.expression}`;
  }
  return node;
}

/** One traced CheckPermission under the gateway's call policy (deadline, retries). */
export async function tracedCheck(
  api: SpiceDbApi,
  policy: CallPolicy,
  tokens: WriteTokenTracker,
  item: CheckItem,
  consistency: ReadConsistency,
): Promise<TracedCheck> {
  const observe = tokens.beginRead(consistency);
  const response = await policy.run('CheckPermission', 'read', (options) =>
    api.checkPermission(
      v1.CheckPermissionRequest.create({
        resource: objectReference(item.resource.type, item.resource.id),
        permission: item.permission,
        subject: subjectReference(item.subject.type, item.subject.id),
        consistency: consistencyOf(consistency),
        withTracing: true,
      }),
      new Metadata(),
      options,
    ),
  );
  const checkedAt = response.checkedAt?.token ?? '';
  observe(checkedAt);
  const check = response.debugTrace?.check;
  return {
    allowed: response.permissionship === v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION,
    conditional:
      response.permissionship === v1.CheckPermissionResponse_Permissionship.CONDITIONAL_PERMISSION,
    checkedAt,
    trace: check ? traceNodeOf(check) : undefined,
  };
}
