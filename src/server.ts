import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { SignJWT } from 'jose';
import type { Logger } from 'pino';
import { ID_PATTERN } from './authz/ids.js';
import { applyCors, type CorsPolicy } from './http/cors.js';
import { BACKEND_SCOPE } from './trpc/auth.js';
import { createLeanTrpcHandler } from './http/trpc-lean.js';
import { createContextFactory, type Context, type Services } from './trpc/context.js';
import { retryAfterOf } from './trpc/rate-limit.js';
import { appRouter } from './trpc/routers/_app.js';
import { requestIdOf } from './observability/logger.js';
import type { ServiceMetrics } from './observability/metrics.js';
import { serveMetrics, type MetricsAccess } from './observability/metrics-access.js';
import { bindRequestScope } from './observability/request-context.js';

export const MAX_BODY_BYTES = 1024 * 1024;
/** GET queries carry their input in the URL: longer URLs get 414 before any parsing. */
export const MAX_URL_BYTES = 32 * 1024;
/** Node refuses larger request heads with 431; raised from 16 KiB so MAX_URL_BYTES can apply. */
const MAX_HEADER_BYTES = 64 * 1024;
/** Calls one batched request may carry (each call is still rate-limited on its own). */
export const MAX_BATCH_CALLS = 100;

/** Where `vite build` (npm run build:web) writes the access-explorer page. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../web/dist', import.meta.url));

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

export interface HttpServerOptions {
  /** `standalone` sends every tRPC request through tRPC's adapter (the benchmark's baseline). */
  httpLayer?: 'lean' | 'standalone';
  /** Told of every failed tRPC call, with the logger of its request (its id bound). */
  onError?: (info: { path: string | undefined; code: string; error: Error; log?: Logger }) => void;
  /** Request logs (one line per request, with its id); silent when absent. */
  log?: Logger;
  /** Prometheus metrics, served at GET /metrics when given (and `metricsRoute` is not false). */
  metrics?: ServiceMetrics;
  /** Who may read /metrics here; `false` when it has a listen address of its own. */
  metricsRoute?: MetricsAccess | false;
  /** The built access-explorer page; `false` serves no page. */
  webRoot?: string | false;
  /**
   * DEVELOPMENT ONLY: POST /dev/token mints a caller token for any user id with this secret.
   * main.ts passes it only when NODE_ENV is not `production` and an HS256 secret is in use.
   */
  devTokens?: { secret: string };
  /** Browser origins allowed to call (CORS_ORIGINS); none when absent. */
  cors?: CorsPolicy | undefined;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
};

const NOT_BUILT_PAGE = `<!doctype html><meta charset="utf-8"><title>authz explorer</title>
<p>The access-explorer page is not built. Run <code>npm run build:web</code> and reload.</p>`;

/** Serves one file of the built page; paths that leave the root are refused. */
async function serveStatic(
  root: string,
  pathname: string,
  res: http.ServerResponse,
): Promise<boolean> {
  let relative = 'index.html';
  if (pathname !== '/' && pathname !== '/explorer' && pathname !== '/explorer/') {
    try {
      relative = decodeURIComponent(pathname).replace(/^\/+/, '');
    } catch {
      return false; // malformed percent-encoding names no file
    }
  }
  const file = path.resolve(root, relative);
  if (!file.startsWith(root + path.sep)) return false;
  try {
    const info = await stat(file);
    if (!info.isFile()) return false;
  } catch {
    if (relative !== 'index.html') return false;
    res.writeHead(503, { 'content-type': 'text/html; charset=utf-8' });
    res.end(NOT_BUILT_PAGE);
    return true;
  }
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
    // Vite fingerprints assets; the page itself must be re-read to pick up a new build.
    'cache-control': relative.startsWith('assets/')
      ? 'public, max-age=31536000, immutable'
      : 'no-cache',
  });
  createReadStream(file).pipe(res);
  return true;
}

async function readJsonBody(req: http.IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
}

/** DEVELOPMENT ONLY: a one-hour HS256 token for `userId`, optionally with the backend scope. */
async function mintDevToken(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  secret: string,
): Promise<void> {
  let body: unknown;
  try {
    body = await readJsonBody(req, 4096);
  } catch {
    sendJson(res, 400, { error: 'body must be JSON: {"userId": "...", "backend"?: true}' });
    return;
  }
  const { userId, backend } = (body ?? {}) as { userId?: unknown; backend?: unknown };
  if (typeof userId !== 'string' || !ID_PATTERN.test(userId)) {
    sendJson(res, 400, { error: `userId must match ${ID_PATTERN.source}` });
    return;
  }
  const token = await new SignJWT(backend === true ? { scope: BACKEND_SCOPE } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));
  sendJson(res, 200, { token, userId, development: true });
}

function routeOf(pathname: string): string {
  if (pathname.startsWith('/trpc/')) return '/trpc';
  if (['/healthz', '/readyz', '/metrics', '/dev/token'].includes(pathname)) return pathname;
  return 'page';
}

/**
 * The service over HTTP: tRPC at /trpc, liveness at /healthz, SpiceDB readiness at /readyz,
 * Prometheus metrics at /metrics, the access-explorer page at / and /explorer.
 * Every response carries `x-request-id` (the caller's, or a new one).
 */
export function createHttpServer(services: Services, options: HttpServerOptions = {}): http.Server {
  const createContext = createContextFactory(services);
  const reportError = (path: string | undefined, error: TRPCError, ctx: Context | undefined) => {
    const log = ctx?.requestScope?.log;
    options.onError?.({ path, code: error.code, error, ...(log ? { log } : {}) });
  };
  const adapter = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    maxBodySize: MAX_BODY_BYTES,
    maxBatchSize: MAX_BATCH_CALLS,
    createContext,
    onError: ({ path, error, ctx }) => reportError(path, error, ctx),
    responseMeta: ({ errors }) => {
      const retryAfter = retryAfterOf(errors);
      return retryAfter === undefined ? {} : { headers: { 'retry-after': retryAfter } };
    },
  });
  // GET queries skip the adapter's fetch Request/Response (docs/performance.md); the rest use it.
  const trpcHandler =
    options.httpLayer === 'standalone'
      ? adapter
      : createLeanTrpcHandler({
          router: appRouter,
          basePath: '/trpc/',
          maxBatchSize: MAX_BATCH_CALLS,
          createContext: (req) => createContext({ req }),
          onError: ({ path, error, ctx }) => reportError(path, error, ctx),
          fallback: adapter,
        });
  const webRoot = options.webRoot === false ? undefined : (options.webRoot ?? DEFAULT_WEB_ROOT);
  const { log, metrics } = options;
  const metricsRoute = options.metricsRoute ?? {};

  const handle = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathname: string,
  ): Promise<void> => {
    if (applyCors(options.cors, req, res)) return;
    if (pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (pathname === '/readyz') {
      const ready = await services.spicedb.ready();
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'spicedb unavailable' });
    }
    if (pathname.startsWith('/trpc/')) {
      if ((req.url ?? '').length > MAX_URL_BYTES) {
        return sendJson(res, 414, {
          error: {
            message: `request URL is longer than ${MAX_URL_BYTES} bytes`,
            data: { code: 'URI_TOO_LONG', httpStatus: 414 },
          },
        });
      }
      return trpcHandler(req, res);
    }
    if (pathname === '/metrics' && metrics !== undefined && metricsRoute !== false) {
      if (req.method === 'GET') return serveMetrics(metrics, metricsRoute, req, res);
    }
    if (pathname === '/dev/token' && options.devTokens !== undefined && req.method === 'POST') {
      return mintDevToken(req, res, options.devTokens.secret);
    }
    if (webRoot !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
      if (await serveStatic(webRoot, pathname, res)) return;
    }
    sendJson(res, 404, { error: 'not found' });
  };

  return http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    const started = performance.now();
    const requestId = requestIdOf(req);
    // The tRPC context reads the id from here, so logs and procedures agree on it.
    req.headers['x-request-id'] = requestId;
    res.setHeader('x-request-id', requestId);
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    const requestLog = log?.child({ reqId: requestId });
    res.once('finish', () => {
      const seconds = (performance.now() - started) / 1000;
      metrics?.observeHttp(req.method ?? 'GET', routeOf(pathname), res.statusCode, seconds);
      requestLog?.info(
        {
          method: req.method,
          path: pathname,
          status: res.statusCode,
          ms: Math.round(seconds * 1000),
        },
        'request',
      );
    });
    const scope = { requestId, log: requestLog ?? silentLogger, ...(metrics ? { metrics } : {}) };
    bindRequestScope(req, scope);
    handle(req, res, pathname).catch((error: unknown) => {
      requestLog?.error({ err: error }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
}

const silentLogger = {
  error: () => undefined,
  debug: () => undefined,
  info: () => undefined,
} as unknown as Logger;

/**
 * Stops accepting connections, lets in-flight requests finish (up to `timeoutMs`), then closes
 * the SpiceDB connection. Keep-alive connections are closed as soon as they fall idle.
 */
export async function shutdownGracefully(
  server: http.Server,
  services: Pick<Services, 'spicedb' | 'live'>,
  options: { timeoutMs?: number; log?: Logger } = {},
): Promise<{ drained: boolean }> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  let drained = true;
  // Open authz.watch streams never finish by themselves: end them (their clients reconnect).
  services.live?.close();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // A response finishing during the drain leaves a keep-alive socket idle: close it too.
  const closeIdle = () => server.closeIdleConnections();
  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.setHeader('connection', 'close');
    res.once('finish', closeIdle);
  });
  const poll = setInterval(closeIdle, 100);
  const timeout = new Promise<void>((resolve) =>
    setTimeout(() => {
      drained = false;
      options.log?.warn({ timeoutMs }, 'in-flight requests did not finish in time: closing them');
      server.closeAllConnections();
      resolve();
    }, timeoutMs).unref(),
  );
  await Promise.race([closed, timeout]);
  clearInterval(poll);
  services.spicedb.close();
  return { drained };
}
