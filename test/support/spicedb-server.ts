import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export { freePort, waitForPort } from '../../src/spicedb/loopback.js';
import { freePort, waitForPort } from '../../src/spicedb/loopback.js';

export const SPICEDB_VERSION = 'v1.56.2';
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export type TestSpiceDbTarget =
  { mode: 'server'; endpoint: string; source: string } | { mode: 'embedded'; source: string };

export interface RunningSpiceDb {
  target: TestSpiceDbTarget;
  stop(): Promise<void>;
}

/** The pinned binary: SPICEDB_BINARY, else the cache that scripts/ensure-spicedb.sh fills, else PATH. */
export function findSpiceDbBinary(): string | undefined {
  const explicit = process.env.SPICEDB_BINARY;
  if (explicit && existsSync(explicit)) return explicit;
  const cacheRoot =
    process.env.SPICEDB_CACHE_DIR ??
    path.join(
      process.env.XDG_CACHE_HOME ?? path.join(process.env.HOME ?? '/root', '.cache'),
      'authz-spicedb',
    );
  const cached = path.join(cacheRoot, SPICEDB_VERSION, 'spicedb');
  if (existsSync(cached)) return cached;
  const which = spawnSync('sh', ['-c', 'command -v spicedb'], { encoding: 'utf8' });
  const onPath = which.stdout.trim();
  if (which.status === 0 && onPath) {
    const version = spawnSync(onPath, ['version'], { encoding: 'utf8' });
    if (version.stdout.includes(SPICEDB_VERSION)) return onPath;
  }
  return undefined;
}

/** `spicedb serve-testing`: every preshared key gets its own in-memory datastore. */
export async function startServeTesting(binary: string): Promise<RunningSpiceDb> {
  const port = await freePort();
  const child = spawn(
    binary,
    [
      'serve-testing',
      '--grpc-addr',
      `127.0.0.1:${port}`,
      '--readonly-grpc-enabled=false',
      '--http-enabled=false',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  try {
    await waitForPort(port, 30_000, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`spicedb serve-testing did not start: ${String(error)}\n${stderr}`, {
      cause: error,
    });
  }
  return {
    target: { mode: 'server', endpoint: `127.0.0.1:${port}`, source: `${binary} serve-testing` },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function dockerAvailable(): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

async function startDocker(): Promise<RunningSpiceDb> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(`authzed/spicedb:${SPICEDB_VERSION}`)
    .withCommand(['serve-testing', '--http-enabled=false', '--readonly-grpc-enabled=false'])
    .withExposedPorts(50051)
    .withWaitStrategy(Wait.forListeningPorts())
    .start();
  return {
    target: {
      mode: 'server',
      endpoint: `${container.getHost()}:${container.getMappedPort(50051)}`,
      source: `docker authzed/spicedb:${SPICEDB_VERSION}`,
    },
    stop: async () => {
      await container.stop();
    },
  };
}

/**
 * Picks the SpiceDB the tests run against: SPICEDB_TEST_ENDPOINT, else the pinned local binary,
 * else Docker, else the embedded library. In CI only a real server will do.
 */
export async function provideTestSpiceDb(): Promise<RunningSpiceDb> {
  const requireServer =
    process.env.CI === 'true' || process.env.SPICEDB_TEST_REQUIRE_SERVER === 'true';
  const endpoint = process.env.SPICEDB_TEST_ENDPOINT;
  if (endpoint) {
    return {
      target: { mode: 'server', endpoint, source: 'SPICEDB_TEST_ENDPOINT' },
      stop: async () => {},
    };
  }
  const binary = findSpiceDbBinary();
  if (binary) return startServeTesting(binary);
  if (requireServer) {
    throw new Error(
      `CI needs the real SpiceDB ${SPICEDB_VERSION} server: run scripts/ensure-spicedb.sh or set SPICEDB_BINARY / SPICEDB_TEST_ENDPOINT`,
    );
  }
  if (dockerAvailable()) return startDocker();
  return {
    target: {
      mode: 'embedded',
      source: `no SpiceDB binary (run npm run spicedb:install), endpoint or Docker found: using the embedded library in ${repoRoot}`,
    },
    stop: async () => {},
  };
}
