import type http from 'node:http';
import {
  getErrorShape,
  getTRPCErrorFromUnknown,
  transformTRPCResponse,
  type AnyRouter,
  type TRPCError,
} from '@trpc/server';
import { getHTTPStatusCode } from '@trpc/server/http';
import type { AnyProcedure } from '@trpc/server/unstable-core-do-not-import';
import { retryAfterOf } from '../trpc/rate-limit.js';

/**
 * GET queries (one, or a `?batch=1` batch) answered straight from Node's request and response,
 * without the fetch `Request`/`Response`, `Headers`, `URL` and web streams tRPC's standalone
 * (and fastify) adapter builds for every call. The calls go through the same procedures
 * (middlewares, input parsing, error boundary) and the errors through the router's own
 * formatter, `getErrorShape` and `getHTTPStatusCode`, so the wire is the adapter's byte for
 * byte: same bodies, same statuses (207 for mixed batches), same `vary` and `retry-after`.
 *
 * Anything else (mutations, subscriptions, streaming `trpc-accept`, `connectionParams`, an
 * unknown path, a method mismatch, input that is not JSON) goes to `fallback`, the adapter,
 * which answers it as it always did.
 */
export interface LeanHandlerOptions<TContext> {
  router: AnyRouter;
  basePath: string;
  maxBatchSize: number;
  createContext: (req: http.IncomingMessage) => TContext;
  onError?: (info: { path: string; error: TRPCError; ctx: TContext }) => void;
  fallback: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void;
}

type CallResult = { result: { data: unknown } } | { error: unknown };

const CONTENT_HEADERS = { 'content-type': 'application/json', vary: 'trpc-accept, accept' };

export function createLeanTrpcHandler<TContext>(options: LeanHandlerOptions<TContext>) {
  const { router, basePath, maxBatchSize } = options;
  const config = router._def._config;
  const procedures = router._def.procedures as Record<string, AnyProcedure | undefined>;

  /** The calls of a request this handler answers, or undefined to leave it to the adapter. */
  const parse = (req: http.IncomingMessage) => {
    if (req.method !== 'GET' || req.headers['trpc-accept'] !== undefined) return undefined;
    const url = req.url ?? '';
    const queryAt = url.indexOf('?');
    let pathPart = url.slice(basePath.length, queryAt === -1 ? undefined : queryAt);
    const search = new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1));
    if (search.has('connectionParams')) return undefined;
    try {
      pathPart = decodeURIComponent(pathPart);
    } catch {
      return undefined;
    }
    const isBatch = search.get('batch') === '1';
    const paths = isBatch ? pathPart.split(',') : [pathPart];
    if (paths.length > maxBatchSize) return undefined;
    const calls: Array<{ path: string; procedure: AnyProcedure }> = [];
    for (const path of paths) {
      const procedure = procedures[path];
      if (procedure === undefined || procedure._def.type !== 'query') return undefined;
      calls.push({ path, procedure });
    }
    const rawInput = search.get('input');
    let inputs: unknown;
    try {
      inputs = rawInput ? JSON.parse(rawInput) : undefined;
    } catch {
      return undefined;
    }
    if (
      isBatch &&
      inputs !== undefined &&
      (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs))
    ) {
      return undefined;
    }
    const inputAt = (index: number): unknown => {
      if (inputs === undefined) return undefined;
      const raw = isBatch ? (inputs as Record<string, unknown>)[index] : inputs;
      return raw === undefined ? undefined : config.transformer.input.deserialize(raw);
    };
    return { isBatch, calls, inputAt };
  };

  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const parsed = parse(req);
    if (parsed === undefined) return options.fallback(req, res);
    const ctx = options.createContext(req);
    const errors: Array<TRPCError | undefined> = [];
    const results = await Promise.all(
      parsed.calls.map(async ({ path, procedure }, index): Promise<CallResult> => {
        const input = parsed.inputAt(index);
        try {
          const data: unknown = await procedure({
            path,
            getRawInput: () => Promise.resolve(input),
            ctx,
            type: 'query',
            signal: undefined,
            batchIndex: index,
          });
          return { result: { data } };
        } catch (cause) {
          const error = getTRPCErrorFromUnknown(cause);
          errors[index] = error;
          options.onError?.({ path, error, ctx });
          return { error: getErrorShape({ config, error, type: 'query', path, input, ctx }) };
        }
      }),
    );
    const status = getHTTPStatusCode(results as never, errors);
    const body = parsed.isBatch
      ? JSON.stringify(transformTRPCResponse(config as never, results as never))
      : JSON.stringify(transformTRPCResponse(config as never, results[0] as never));
    const retryAfter = retryAfterOf(errors);
    res.writeHead(
      status,
      retryAfter === undefined
        ? CONTENT_HEADERS
        : { ...CONTENT_HEADERS, 'retry-after': retryAfter },
    );
    res.end(body);
  };
}
