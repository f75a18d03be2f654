import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../../src/config/env.js';

/** The ConfigError loadEnv throws for `source`, or a failure when it accepts it. */
function configErrorOf(source: Record<string, string>): ConfigError {
  try {
    loadEnv(source);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadEnv accepted ${JSON.stringify(source)}`);
}

describe('loadEnv', () => {
  it('gives the documented defaults for an empty environment', () => {
    const env = loadEnv({});
    expect(env).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
      SPICEDB_INSECURE: false,
      SPICEDB_TIMEOUT_MS: 5000,
      LOG_LEVEL: 'info',
      NODE_ENV: 'development',
    });
    expect(env.SPICEDB_ENDPOINT).toBeUndefined();
  });

  it('reads a remote SpiceDB configuration', () => {
    const env = loadEnv({
      PORT: '8080',
      SPICEDB_ENDPOINT: 'spicedb:50051',
      SPICEDB_TOKEN: 'key',
      SPICEDB_INSECURE: 'true',
    });
    expect(env).toMatchObject({
      PORT: 8080,
      SPICEDB_ENDPOINT: 'spicedb:50051',
      SPICEDB_TOKEN: 'key',
      SPICEDB_INSECURE: true,
    });
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '-1'],
    ['PORT', '65536'],
    ['PORT', '80.5'],
    ['SPICEDB_ENDPOINT', 'no-port-here'],
    ['SPICEDB_ENDPOINT', 'http://spicedb:50051'],
    ['SPICEDB_INSECURE', 'yes'],
    ['SPICEDB_TIMEOUT_MS', '0'],
    ['SPICEDB_TIMEOUT_MS', 'soon'],
    ['LOG_LEVEL', 'loud'],
    ['NODE_ENV', 'staging'],
    ['AUTH_JWKS_URL', 'not a url'],
  ])('refuses %s=%s with a ConfigError naming the variable', (name, value) => {
    const extra = name === 'SPICEDB_ENDPOINT' ? { SPICEDB_TOKEN: 'key' } : {};
    const error = configErrorOf({ ...extra, [name]: value });
    expect(error.message).toContain(name);
  });

  it('refuses SPICEDB_ENDPOINT without SPICEDB_TOKEN, naming both', () => {
    const error = configErrorOf({ SPICEDB_ENDPOINT: '127.0.0.1:50051' });
    expect(error.message).toContain('SPICEDB_TOKEN');
    expect(error.message).toContain('SPICEDB_ENDPOINT');
  });

  it('refuses production without a token verifier', () => {
    const error = configErrorOf({ NODE_ENV: 'production' });
    expect(error.message).toMatch(/AUTH_JWKS_URL|AUTH_JWT_SECRET/);
    const metrics = { METRICS_TOKEN: 'a-metrics-token-of-16+' };
    expect(() =>
      loadEnv({ NODE_ENV: 'production', AUTH_JWT_SECRET: 's', ...metrics }),
    ).not.toThrow();
  });

  it('refuses production with /metrics open: METRICS_TOKEN or METRICS_PORT is required', () => {
    const error = configErrorOf({ NODE_ENV: 'production', AUTH_JWT_SECRET: 's' });
    expect(error.message).toContain('METRICS_TOKEN or METRICS_PORT is required in production');
    const base = { NODE_ENV: 'production', AUTH_JWT_SECRET: 's' };
    expect(loadEnv({ ...base, METRICS_PORT: '9464' })).toMatchObject({ METRICS_PORT: 9464 });
    expect(loadEnv({ ...base, METRICS_HOST: '10.0.0.5', METRICS_PORT: '9464' })).toMatchObject({
      METRICS_HOST: '10.0.0.5',
    });
    expect(configErrorOf({ ...base, METRICS_TOKEN: 'short' }).message).toContain('METRICS_TOKEN');
    expect(configErrorOf({ ...base, METRICS_HOST: '0.0.0.0' }).message).toContain('METRICS_PORT');
    // Development serves /metrics open unless told otherwise.
    expect(loadEnv({}).METRICS_TOKEN).toBeUndefined();
  });

  it('names every bad variable at once', () => {
    const error = configErrorOf({ PORT: 'abc', LOG_LEVEL: 'loud', SPICEDB_INSECURE: 'maybe' });
    for (const name of ['PORT', 'LOG_LEVEL', 'SPICEDB_INSECURE']) {
      expect(error.message).toContain(name);
    }
  });
});
