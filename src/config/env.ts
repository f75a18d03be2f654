import { z } from 'zod';
import { endpointProblem } from '../spicedb/endpoints.js';
import { parseCorsOrigins } from '../http/cors.js';

const booleanString = z
  .enum(['true', 'false', '1', '0', ''])
  .transform((value) => value === 'true' || value === '1');

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

/** An empty variable means "not set": `PORT=` takes the default rather than becoming 0. */
const unsetIfEmpty = <T extends z.ZodType>(schema: T) =>
  z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    schema,
  );

export const DEVELOPMENT_JWT_SECRET = 'development-only-secret-do-not-use-in-production';

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: unsetIfEmpty(z.coerce.number().int().min(0).max(65535).default(3000)),
    HOST: z.string().min(1).default('127.0.0.1'),
    /** `host:port`, a comma-separated list of them, or `dns:///name:port` (several nodes). */
    SPICEDB_ENDPOINT: optionalString.pipe(
      z
        .string()
        .superRefine((value, ctx) => {
          const problem = endpointProblem(value);
          if (problem !== undefined) {
            ctx.addIssue({
              code: 'custom',
              message: `must be host:port, a comma-separated list of them, or dns:///name:port (${problem})`,
            });
          }
        })
        .optional(),
    ),
    SPICEDB_TOKEN: optionalString,
    SPICEDB_INSECURE: booleanString.default(false),
    SPICEDB_TIMEOUT_MS: unsetIfEmpty(z.coerce.number().int().min(50).max(60_000).default(5_000)),
    AUTH_JWT_SECRET: optionalString,
    AUTH_JWKS_URL: optionalString.pipe(z.url().optional()),
    AUTH_JWT_ISSUER: optionalString,
    AUTH_JWT_AUDIENCE: optionalString,
    /** Refuse caller tokens without `exp`; defaults to on when NODE_ENV=production. */
    AUTH_JWT_REQUIRE_EXP: booleanString.optional(),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
    /** Requests each caller (token sub) may make per second, and at once; 0 turns limiting off. */
    RATE_LIMIT_PER_SECOND: unsetIfEmpty(z.coerce.number().min(0).max(1_000_000).default(1_000)),
    RATE_LIMIT_BURST: unsetIfEmpty(z.coerce.number().int().min(0).max(1_000_000).default(2_000)),
    /**
     * The same for backend callers (tokens with scope `authz:check`): one backend checks for many
     * users, so it gets a budget of its own, by default about what one SpiceDB node serves.
     */
    RATE_LIMIT_BACKEND_PER_SECOND: unsetIfEmpty(
      z.coerce.number().min(0).max(10_000_000).default(20_000),
    ),
    RATE_LIMIT_BACKEND_BURST: unsetIfEmpty(
      z.coerce.number().int().min(0).max(10_000_000).default(40_000),
    ),
    /** Where the audit trail of mutations goes: JSON lines on stdout or stderr, or nowhere. */
    AUDIT_LOG: z.enum(['stdout', 'stderr', 'off']).default('stdout'),
    /** How long fetched JWKS keys are trusted, and the least time between two JWKS fetches. */
    AUTH_JWKS_CACHE_MAX_AGE_MS: unsetIfEmpty(
      z.coerce.number().int().min(0).max(86_400_000).default(600_000),
    ),
    AUTH_JWKS_COOLDOWN_MS: unsetIfEmpty(
      z.coerce.number().int().min(0).max(3_600_000).default(30_000),
    ),
    /** Browser origins allowed to call the service (comma-separated exact origins, or `*`). */
    CORS_ORIGINS: z
      .string()
      .optional()
      .transform((value, ctx) => {
        try {
          return parseCorsOrigins(value);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message });
          return z.NEVER;
        }
      }),
    /** GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>` when set. */
    METRICS_TOKEN: optionalString.pipe(
      z.string().min(16, 'must be at least 16 characters').optional(),
    ),
    /** /metrics on a listen address of its own (and no longer on PORT) when METRICS_PORT is set. */
    METRICS_HOST: optionalString,
    METRICS_PORT: unsetIfEmpty(z.coerce.number().int().min(0).max(65535).optional()),
  })
  .superRefine((env, ctx) => {
    if ((env.RATE_LIMIT_BACKEND_PER_SECOND === 0) !== (env.RATE_LIMIT_BACKEND_BURST === 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['RATE_LIMIT_BACKEND_BURST'],
        message:
          'RATE_LIMIT_BACKEND_PER_SECOND and RATE_LIMIT_BACKEND_BURST are both 0 (no limit) or both positive',
      });
    }
    if (
      env.NODE_ENV === 'production' &&
      env.METRICS_TOKEN === undefined &&
      env.METRICS_PORT === undefined
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['METRICS_TOKEN'],
        message:
          'METRICS_TOKEN or METRICS_PORT is required in production: /metrics is not served open',
      });
    }
    if (env.METRICS_HOST !== undefined && env.METRICS_PORT === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['METRICS_PORT'],
        message: 'is required when METRICS_HOST is set',
      });
    }
    if (env.SPICEDB_ENDPOINT !== undefined && env.SPICEDB_TOKEN === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['SPICEDB_TOKEN'],
        message: 'is required when SPICEDB_ENDPOINT is set',
      });
    }
    if (
      env.NODE_ENV === 'production' &&
      env.AUTH_JWT_SECRET === undefined &&
      env.AUTH_JWKS_URL === undefined
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_JWKS_URL'],
        message: 'AUTH_JWKS_URL or AUTH_JWT_SECRET is required in production',
      });
    }
  });

export type Env = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment once; a bad value stops the start with every problem named. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`)
      .join('\n');
    throw new ConfigError(`Invalid environment:\n${problems}`);
  }
  return parsed.data;
}
