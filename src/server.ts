import http from 'node:http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { createContextFactory, type Services } from './trpc/context.js';
import { appRouter } from './trpc/routers/_app.js';

export const MAX_BODY_BYTES = 1024 * 1024;

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

export interface HttpServerOptions {
  onError?: (info: { path: string | undefined; code: string; error: Error }) => void;
}

/** The service over HTTP: tRPC at /trpc, liveness at /healthz, SpiceDB readiness at /readyz. */
export function createHttpServer(services: Services, options: HttpServerOptions = {}): http.Server {
  const trpcHandler = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    maxBodySize: MAX_BODY_BYTES,
    createContext: createContextFactory(services),
    onError: ({ path, error }) => options.onError?.({ path, code: error.code, error }),
  });

  return http.createServer((req, res) => {
    const url = req.url ?? '/';
    const pathname = url.split('?')[0] ?? '/';
    if (pathname === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (pathname === '/readyz') {
      void services.spicedb
        .ready()
        .then((ready) =>
          sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'spicedb unavailable' }),
        );
      return;
    }
    if (pathname.startsWith('/trpc/')) {
      trpcHandler(req, res);
      return;
    }
    sendJson(res, 404, { error: 'not found' });
  });
}
