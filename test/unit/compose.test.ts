import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadEnv } from '../../src/config/env.js';

/**
 * No container engine and no compose client run here (nor in CI): the deployment files are
 * read with the `yaml` package and checked for their structure, which always runs.
 */
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(`${repoRoot}/${file}`, 'utf8');

interface Service {
  profiles?: string[];
  entrypoint?: string[];
  networks?: Record<string, { aliases?: string[] }>;
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  volumes?: string[];
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;
const service = (name: string): Service => {
  const found = services[name];
  if (found === undefined) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
};
const REPLICAS = ['authz-a', 'authz-b'];

/** `${NAME...}` substitutions, as compose would read them from the environment. */
const variableOf = (value: string | undefined) => /^\$\{(\w+)[:?-]/.exec(value ?? '')?.[1];

/** A value with its `${NAME:?...}` / `${NAME:-default}` substitutions filled from `vars`. */
const substitute = (value: string, vars: Record<string, string>) =>
  value.replace(
    /\$\{(\w+)(?::[?-]([^}]*))?\}/g,
    (_, name: string, fallback?: string) => vars[name] ?? fallback ?? '',
  );

describe('docker-compose.yml', () => {
  it('pins every image to a version', () => {
    for (const [name, svc] of Object.entries(services)) {
      // A service built here names its local tag; pulled images must carry a version.
      if (svc.image === undefined || svc.build !== undefined) continue;
      expect(svc.image, name).toMatch(/:[\w.-]*\d[\w.-]*$/);
      expect(svc.image, name).not.toMatch(/:latest$/);
    }
    expect(service('spicedb').image).toBe('authzed/spicedb:v1.56.2');
    expect(service('spicedb-migrate').image).toBe('authzed/spicedb:v1.56.2');
  });

  it('migrates once PostgreSQL is healthy, and serves once the migration has completed', () => {
    expect(service('postgres').healthcheck?.test.join(' ')).toContain('pg_isready');
    const migrate = service('spicedb-migrate');
    expect(migrate.command).toEqual(['datastore', 'migrate', 'head']);
    expect(migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });

    const serve = service('spicedb');
    expect(serve.command).toEqual(['serve']);
    expect(serve.depends_on).toEqual({
      'spicedb-migrate': { condition: 'service_completed_successfully' },
    });
    expect(serve.healthcheck?.test).toEqual(['CMD', 'grpc_health_probe', '-addr=localhost:50051']);
    // Both read the same PostgreSQL datastore.
    for (const svc of [migrate, serve]) {
      expect(svc.environment?.SPICEDB_DATASTORE_ENGINE).toBe('postgres');
      expect(svc.environment?.SPICEDB_DATASTORE_CONN_URI).toMatch(
        /^postgres:\/\/[^@]+@postgres:5432\//,
      );
    }
  });

  it('takes the preshared key from the environment, never a literal', () => {
    const key = service('spicedb').environment?.SPICEDB_GRPC_PRESHARED_KEY;
    expect(variableOf(key)).toBe('SPICEDB_PRESHARED_KEY');
    for (const name of REPLICAS) {
      expect(variableOf(service(name).environment?.SPICEDB_TOKEN), name).toBe(
        'SPICEDB_PRESHARED_KEY',
      );
      expect(variableOf(service(name).environment?.AUTH_JWT_SECRET), name).toBe('AUTH_JWT_SECRET');
    }
  });

  it('runs two replicas of the service, built from its Dockerfile, on distinct ports', () => {
    const hostPorts = new Set<string>();
    for (const name of REPLICAS) {
      const svc = service(name);
      expect(svc.build, name).toEqual({ context: '.', dockerfile: 'Dockerfile' });
      expect(svc.depends_on, name).toEqual({ spicedb: { condition: 'service_healthy' } });
      expect(svc.healthcheck?.test.join(' '), name).toContain('/readyz');
      for (const port of svc.ports ?? []) hostPorts.add(port.split(':').slice(0, -1).join(':'));
      expect(svc.environment?.SPICEDB_ENDPOINT, name).toBe('spicedb:50051');
      expect(svc.environment?.NODE_ENV, name).toBe('production');
    }
    expect(hostPorts.size).toBe(REPLICAS.length);
  });

  it('gives each replica an environment the service accepts (validated as at start)', () => {
    const vars = { SPICEDB_PRESHARED_KEY: 'k', AUTH_JWT_SECRET: 's', POSTGRES_PASSWORD: 'p' };
    for (const name of REPLICAS) {
      const env = Object.fromEntries(
        Object.entries(service(name).environment ?? {}).map(([k, v]) => [
          k,
          substitute(String(v), vars),
        ]),
      );
      const parsed = loadEnv(env);
      expect(parsed).toMatchObject({
        NODE_ENV: 'production',
        SPICEDB_ENDPOINT: 'spicedb:50051',
        SPICEDB_TOKEN: 'k',
        SPICEDB_INSECURE: true,
        AUTH_JWT_SECRET: 's',
        HOST: '0.0.0.0',
        PORT: 3000,
      });
    }
  });

  it('names only services, volumes and variables the file defines or documents', () => {
    const volumes = Object.keys((compose as { volumes?: Record<string, unknown> }).volumes ?? {});
    const documented = [
      'POSTGRES_PASSWORD',
      'SPICEDB_PRESHARED_KEY',
      'AUTH_JWT_SECRET',
      'LOG_LEVEL',
    ];
    for (const [name, svc] of Object.entries(services)) {
      for (const dependency of Object.keys(svc.depends_on ?? {})) {
        expect(Object.keys(services), `${name} depends on ${dependency}`).toContain(dependency);
      }
      for (const mount of svc.volumes ?? []) {
        const source = mount.split(':')[0] ?? '';
        if (!source.startsWith('.') && !source.startsWith('/')) {
          expect(volumes, `${name} mounts ${source}`).toContain(source);
        }
      }
      for (const value of Object.values(svc.environment ?? {})) {
        for (const [, variable] of String(value).matchAll(/\$\{(\w+)/g)) {
          expect(documented, `${name} reads \${${variable}}`).toContain(variable);
        }
      }
    }
  });
});

describe('docker-compose.yml, profile cluster', () => {
  const NODES = ['spicedb-1', 'spicedb-2', 'spicedb-3'];
  const CLUSTER = [
    'pg-primary',
    'pg-replica',
    'spicedb-cluster-migrate',
    ...NODES,
    'authz-cluster-a',
    'authz-cluster-b',
  ];
  const vars = { SPICEDB_PRESHARED_KEY: 'k', AUTH_JWT_SECRET: 's', POSTGRES_PASSWORD: 'p' };

  it('puts its services in the cluster profile only, and leaves the single-node stack unprofiled', () => {
    for (const name of CLUSTER) expect(service(name).profiles, name).toEqual(['cluster']);
    for (const name of ['postgres', 'spicedb', ...REPLICAS]) {
      expect(service(name).profiles, name).toBeUndefined();
    }
  });

  it('runs three SpiceDB nodes with dispatch to a name that resolves to all of them', () => {
    for (const name of NODES) {
      const node = service(name);
      expect(node.image, name).toBe('authzed/spicedb:v1.56.2');
      expect(node.environment?.SPICEDB_DISPATCH_CLUSTER_ENABLED, name).toBe('true');
      expect(node.environment?.SPICEDB_DISPATCH_UPSTREAM_ADDR, name).toBe(
        'dns:///spicedb-dispatch:50053',
      );
      expect(node.environment?.SPICEDB_DISPATCH_CLUSTER_ADDR, name).toBe(':50053');
      expect(node.networks?.default?.aliases, name).toContain('spicedb-dispatch');
      // All nodes share one preshared key: dispatch authenticates with it.
      expect(variableOf(node.environment?.SPICEDB_GRPC_PRESHARED_KEY), name).toBe(
        'SPICEDB_PRESHARED_KEY',
      );
      expect(node.healthcheck?.test, name).toEqual([
        'CMD',
        'grpc_health_probe',
        '-addr=localhost:50051',
      ]);
      expect(node.depends_on, name).toEqual({
        'spicedb-cluster-migrate': { condition: 'service_completed_successfully' },
        'pg-replica': { condition: 'service_healthy' },
      });
    }
  });

  it('writes to the primary and reads from its streaming replica', () => {
    for (const name of [...NODES, 'spicedb-cluster-migrate']) {
      expect(service(name).environment?.SPICEDB_DATASTORE_CONN_URI, name).toMatch(
        /^postgres:\/\/[^@]+@pg-primary:5432\/spicedb/,
      );
    }
    for (const name of NODES) {
      const command = service(name).command ?? [];
      expect(command[0], name).toBe('serve');
      const replica = command[command.indexOf('--datastore-read-replica-conn-uri') + 1] ?? '';
      expect(replica, name).toMatch(/^postgres:\/\/[^@]+@pg-replica:5432\/spicedb/);
    }
    const primary = (service('pg-primary').command ?? []).join(' ');
    expect(primary).toContain('wal_level=replica');
    expect(primary).toContain('track_commit_timestamp=on');
    const replica = (service('pg-replica').entrypoint ?? []).join(' ');
    expect(replica).toMatch(/pg_basebackup -h pg-primary .*-R -X stream/);
    expect(replica).toContain('hot_standby=on');
    expect(service('pg-replica').depends_on).toEqual({
      'pg-primary': { condition: 'service_healthy' },
    });
    const configs = (compose as { configs?: Record<string, { content?: string }> }).configs;
    expect(configs?.['pg-allow-replication']?.content).toMatch(/host replication spicedb all/);
  });

  it('gives two service replicas the node list, which the service accepts at start', () => {
    const hostPorts = new Set<string>();
    for (const name of ['authz-cluster-a', 'authz-cluster-b']) {
      const svc = service(name);
      expect(svc.build, name).toEqual({ context: '.', dockerfile: 'Dockerfile' });
      expect(Object.keys(svc.depends_on ?? {}).sort(), name).toEqual(NODES);
      expect(svc.healthcheck?.test.join(' '), name).toContain('/readyz');
      for (const port of svc.ports ?? []) hostPorts.add(port);
      const env = Object.fromEntries(
        Object.entries(svc.environment ?? {}).map(([k, v]) => [k, substitute(String(v), vars)]),
      );
      expect(loadEnv(env)).toMatchObject({
        NODE_ENV: 'production',
        SPICEDB_ENDPOINT: 'spicedb-1:50051,spicedb-2:50051,spicedb-3:50051',
        SPICEDB_TOKEN: 'k',
      });
    }
    expect(hostPorts.size).toBe(2);
  });
});
