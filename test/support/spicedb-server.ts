import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findSpiceDbBinary, SPICEDB_VERSION } from '../../testkit/spicedb-binary.js';
import { startSpiceDb } from '../../testkit/spicedb-process.js';

export { freePort, waitForPort } from '../../src/spicedb/loopback.js';
export { findSpiceDbBinary, SPICEDB_VERSION } from '../../testkit/spicedb-binary.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export type TestSpiceDbTarget =
  { mode: 'server'; endpoint: string; source: string } | { mode: 'embedded'; source: string };

export interface RunningSpiceDb {
  target: TestSpiceDbTarget;
  stop(): Promise<void>;
}

/** `spicedb serve-testing`: every preshared key gets its own in-memory datastore. */
async function startServeTesting(binary: string): Promise<RunningSpiceDb> {
  const spicedb = await startSpiceDb({ datastore: 'testing', binary });
  return {
    target: { mode: 'server', endpoint: spicedb.endpoint, source: `${binary} serve-testing` },
    stop: () => spicedb.stop(),
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
