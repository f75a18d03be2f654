import type { Env } from './config/env.js';
import { DEVELOPMENT_JWT_SECRET } from './config/env.js';
import { AuditTrail, sinkFor, type AuditSink } from './audit/audit-trail.js';
import { ensureSchema as ensureSchemaBySpiceDb } from './authz/schema-admin.js';
import { AuthzService } from './authz/service.js';
import { createLiveAccess } from './authz/live-wiring.js';
import {
  connectRemote,
  readSchemaFile,
  type RemoteOptions,
  type SpiceDbConnection,
} from './spicedb/connection.js';
import { startEmbedded } from './spicedb/embedded.js';
import { SpiceDbGateway, type GatewayOptions } from './spicedb/gateway.js';
import { createTokenVerifier } from './trpc/auth.js';
import type { Services } from './trpc/context.js';
import { RateLimiter } from './trpc/rate-limit.js';

export async function connectSpiceDb(
  env: Env,
  options: Pick<RemoteOptions, 'onNodeCall'> = {},
): Promise<SpiceDbConnection> {
  if (env.SPICEDB_ENDPOINT === undefined) {
    return startEmbedded(await readSchemaFile());
  }
  const connection = connectRemote({
    ...options,
    endpoint: env.SPICEDB_ENDPOINT,
    token: env.SPICEDB_TOKEN ?? '',
    insecure: env.SPICEDB_INSECURE,
  });
  // A dns: endpoint must resolve before the service starts (a start failure says why).
  await connection.resolved?.catch((error: unknown) => {
    connection.close();
    throw error;
  });
  return connection;
}

/**
 * With several nodes, one attempt gets half the call's deadline: a call stuck on a node that
 * froze is given up in time for the retry, which the pool sends to another node.
 */
export function attemptTimeoutFor(connection: SpiceDbConnection, timeoutMs: number) {
  const nodes = connection.nodes?.().length ?? 1;
  return nodes > 1 ? Math.max(50, Math.floor(timeoutMs / 2)) : timeoutMs;
}

/** Writes schema.zed unless SpiceDB's own DiffSchema says it already holds exactly it. */
export async function ensureSchema(
  gateway: SpiceDbGateway,
  schema?: string,
): Promise<'written' | 'unchanged'> {
  return ensureSchemaBySpiceDb(gateway, schema ?? (await readSchemaFile()));
}

export function jwtSecretOf(env: Env): string | undefined {
  if (env.AUTH_JWT_SECRET !== undefined) return env.AUTH_JWT_SECRET;
  return env.AUTH_JWKS_URL === undefined ? DEVELOPMENT_JWT_SECRET : undefined;
}

export function createServices(
  env: Env,
  connection: SpiceDbConnection,
  gatewayOptions: Partial<GatewayOptions> = {},
  auditSink: AuditSink = sinkFor(env.AUDIT_LOG),
): Services {
  const spicedb = new SpiceDbGateway(connection, {
    timeoutMs: env.SPICEDB_TIMEOUT_MS,
    attemptTimeoutMs: attemptTimeoutFor(
      connection,
      gatewayOptions.timeoutMs ?? env.SPICEDB_TIMEOUT_MS,
    ),
    ...gatewayOptions,
  });
  return {
    spicedb,
    authz: new AuthzService(spicedb),
    verifyToken: createTokenVerifier({
      secret: jwtSecretOf(env),
      jwksUrl: env.AUTH_JWKS_URL,
      issuer: env.AUTH_JWT_ISSUER,
      audience: env.AUTH_JWT_AUDIENCE,
      jwksCacheMaxAgeMs: env.AUTH_JWKS_CACHE_MAX_AGE_MS,
      jwksCooldownMs: env.AUTH_JWKS_COOLDOWN_MS,
      requireExpiry: env.AUTH_JWT_REQUIRE_EXP ?? env.NODE_ENV === 'production',
    }),
    rateLimiter: new RateLimiter({
      perSecond: env.RATE_LIMIT_PER_SECOND,
      burst: env.RATE_LIMIT_BURST,
    }),
    backendRateLimiter: new RateLimiter({
      perSecond: env.RATE_LIMIT_BACKEND_PER_SECOND,
      burst: env.RATE_LIMIT_BACKEND_BURST,
    }),
    audit: new AuditTrail(auditSink),
    live: createLiveAccess(spicedb),
  };
}
