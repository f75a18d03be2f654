import type http from 'node:http';

/**
 * Cross-origin access for browser frontends served from their own origin (CORS_ORIGINS).
 * Only exact origins are trusted with credentials; `*` lets any page call with a bearer token
 * but never with credentials (browsers refuse that pair, and it would be unsafe).
 */
export type CorsPolicy = { kind: 'origins'; origins: ReadonlySet<string> } | { kind: 'any' };

export const CORS_ALLOWED_METHODS = 'GET, POST, OPTIONS';
export const CORS_ALLOWED_HEADERS = 'authorization, content-type, trpc-accept, x-request-id';
/** Headers a page's script may read from our responses. */
export const CORS_EXPOSED_HEADERS = 'x-request-id, retry-after';
/** How long a browser may reuse a preflight answer (seconds). */
export const CORS_MAX_AGE_SECONDS = 600;

/**
 * `https://app.example.com,http://localhost:5173` → a policy; `*` alone → any origin; empty →
 * none. Throws naming the entry that is not an origin (scheme, host and port only).
 */
export function parseCorsOrigins(value: string | undefined): CorsPolicy | undefined {
  const entries = (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) return undefined;
  if (entries.includes('*')) {
    if (entries.length > 1) throw new Error('`*` cannot be combined with other origins');
    return { kind: 'any' };
  }
  const origins = new Set<string>();
  for (const entry of entries) {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new Error(`"${entry}" is not an origin (expected scheme://host[:port])`);
    }
    if (!['http:', 'https:'].includes(url.protocol) || url.origin !== entry.replace(/\/$/, '')) {
      throw new Error(`"${entry}" is not an origin (expected scheme://host[:port], no path)`);
    }
    origins.add(url.origin);
  }
  return { kind: 'origins', origins };
}

/**
 * Adds the CORS headers `req` earns and answers a preflight. Returns true when the request
 * was a preflight and has been answered (the caller must not handle it further).
 */
export function applyCors(
  policy: CorsPolicy | undefined,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): boolean {
  const origin = req.headers.origin;
  const preflight =
    req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
  if (policy !== undefined) {
    // Answers differ by Origin: caches must keep them apart.
    if (policy.kind === 'origins') res.setHeader('vary', 'Origin');
    const allowed = origin !== undefined && (policy.kind === 'any' || policy.origins.has(origin));
    if (allowed) {
      if (policy.kind === 'any') {
        res.setHeader('access-control-allow-origin', '*');
      } else {
        res.setHeader('access-control-allow-origin', origin);
        res.setHeader('access-control-allow-credentials', 'true');
      }
      res.setHeader('access-control-expose-headers', CORS_EXPOSED_HEADERS);
      if (preflight) {
        res.setHeader('access-control-allow-methods', CORS_ALLOWED_METHODS);
        res.setHeader('access-control-allow-headers', CORS_ALLOWED_HEADERS);
        res.setHeader('access-control-max-age', String(CORS_MAX_AGE_SECONDS));
      }
    }
  }
  if (!preflight) return false;
  // A disallowed origin gets the same 204 without any Access-Control-* header: the browser
  // then refuses the call itself, and the answer tells a probing page nothing.
  res.writeHead(204, { 'content-length': '0' });
  res.end();
  return true;
}
