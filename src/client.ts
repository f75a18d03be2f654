/**
 * The typed client of the authz service, for frontends and backends written in TypeScript.
 *
 *   import { createAuthzClient } from 'authz-service/client';
 *   const authz = createAuthzClient({ url: 'https://authz.internal', getToken: () => session.jwt });
 *   const { allowed } = await authz.authz.check.query({ resource: 'cluster:c1', permission: 'ssh' });
 *
 *   // Live answers over SSE (docs/watch.md): the initial answers, then every change.
 *   const sub = authz.authz.watch.subscribe(
 *     { checks: [{ resource: 'cluster:c1', permission: 'ssh' }] },
 *     { onData: ({ data }) => render(data.resource, data.permission, data.allowed) },
 *   );
 *
 * Inputs and outputs are inferred from the service's router: a misspelt procedure or
 * permission name is a compile error. Plain JSON on the wire (no transformer), batched;
 * subscriptions go over Server-Sent Events with the same Authorization header.
 */
import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
  type TRPCLink,
} from '@trpc/client';
import { EventSource, type FetchLike } from 'eventsource';
import { sameTickBatchLink } from './client-batch-link.js';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from './trpc/routers/_app.js';

export type { AppRouter };
/** The typed pairs the inputs are made of, for callers building inputs of their own. */
export type { CheckPair, ResourceTypePair } from './authz/check-pair.js';
export type { PublicPermission, ResourceType } from './authz/schema.js';
export type { ConsistencyInput } from './trpc/check-input.js';
export type AuthzInputs = inferRouterInputs<AppRouter>;
export type AuthzOutputs = inferRouterOutputs<AppRouter>;
export type AuthzClient = ReturnType<typeof createTRPCClient<AppRouter>>;
export { TRPCClientError };

export interface AuthzClientOptions {
  /** The service's base URL, e.g. `http://127.0.0.1:3000` (`/trpc` is appended). */
  url: string;
  /** The caller's JWT, read for every request so a refreshed token is picked up. */
  getToken: () => string | undefined | Promise<string | undefined>;
  /** Sent as `x-request-id` so the service's logs can be matched to the caller's. */
  requestId?: () => string;
  /**
   * How queries travel (docs/client.md): `batch0` (the default) sends the queries of one
   * event-loop turn as one request with no timer; `batch` is tRPC's httpBatchLink (a timer of at
   * least 1 ms before each request); `single` is httpLink, one request per query.
   */
  link?: 'batch0' | 'batch' | 'single';
}

export function createAuthzClient(options: AuthzClientOptions): AuthzClient {
  const url = `${options.url.replace(/\/+$/, '')}/trpc`;
  const headers = async () => {
    const token = await options.getToken();
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (options.requestId) headers['x-request-id'] = options.requestId();
    return headers;
  };
  // An EventSource that sends headers (a browser's own cannot), in Node and browsers alike;
  // the token is read again for every (re)connection.
  const fetchWithHeaders: FetchLike = async (input, init) =>
    fetch(input, { ...init, headers: { ...init.headers, ...(await headers()) } });
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url,
          EventSource,
          eventSourceOptions: { fetch: fetchWithHeaders },
        }),
        false: requestLink(options.link ?? 'batch0', url, headers),
      }),
    ],
  });
}

/** Queries by the chosen link; mutations batch with httpBatchLink (POST) unless `single`. */
function requestLink(
  link: 'batch0' | 'batch' | 'single',
  url: string,
  headers: () => Promise<Record<string, string>>,
): TRPCLink<AppRouter> {
  if (link === 'single') return httpLink({ url, headers });
  if (link === 'batch') return httpBatchLink({ url, headers });
  return splitLink({
    condition: (op) => op.type === 'query',
    true: sameTickBatchLink({ url, headers }),
    false: httpBatchLink({ url, headers }),
  });
}

/** The tRPC error code of a failed call (`FORBIDDEN`, `BAD_REQUEST`, ...), if it has one. */
export function errorCodeOf(error: unknown): string | undefined {
  if (error instanceof TRPCClientError) {
    const data = (error as TRPCClientError<AppRouter>).data as { code?: string } | undefined;
    return data?.code;
  }
  return undefined;
}
