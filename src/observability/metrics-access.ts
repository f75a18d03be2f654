import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { ServiceMetrics } from './metrics.js';

/**
 * Who may read GET /metrics. Open in development; in production (see src/config/env.ts) either
 * behind `Authorization: Bearer <METRICS_TOKEN>` or on a listen address of its own
 * (METRICS_HOST/METRICS_PORT), which operators keep off the public network.
 */
export interface MetricsAccess {
  /** Required bearer token; absent = open. */
  token?: string | undefined;
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (\S+)$/i.exec(header ?? '');
  if (match?.[1] === undefined) return false;
  const given = Buffer.from(match[1]);
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** Answers GET /metrics, or 401 without the configured bearer token. */
export async function serveMetrics(
  metrics: ServiceMetrics,
  access: MetricsAccess,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  if (access.token !== undefined && !bearerMatches(req.headers.authorization, access.token)) {
    res.writeHead(401, {
      'content-type': 'application/json',
      'www-authenticate': 'Bearer realm="metrics"',
    });
    res.end(JSON.stringify({ error: '/metrics needs Authorization: Bearer <METRICS_TOKEN>' }));
    return;
  }
  const body = await metrics.render();
  res.writeHead(200, { 'content-type': metrics.contentType() });
  res.end(body);
}

/** /metrics alone on its own listen address (METRICS_HOST/METRICS_PORT). */
export function createMetricsServer(metrics: ServiceMetrics, access: MetricsAccess): http.Server {
  return http.createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname !== '/metrics' || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'not found' }));
      return;
    }
    serveMetrics(metrics, access, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
}
