/** Where the pinned SpiceDB binary is, for everything that starts `spicedb` processes. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SPICEDB_VERSION = 'v1.56.2';
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** SPICEDB_BINARY, else the cache that scripts/ensure-spicedb.sh fills, else `spicedb` on PATH. */
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

/** The pinned binary, or an error saying how to get it: suites that need SpiceDB fail, never skip. */
export function requireSpiceDbBinary(): string {
  const found = findSpiceDbBinary();
  if (found === undefined) {
    throw new Error(
      `the SpiceDB ${SPICEDB_VERSION} binary is missing: run npm run spicedb:install or set SPICEDB_BINARY`,
    );
  }
  return found;
}

/** The pinned binary, built with scripts/ensure-spicedb.sh when missing (benchmarks, tools). */
export function ensureSpiceDbBinary(): string {
  const found = findSpiceDbBinary();
  if (found) return found;
  const built = spawnSync('bash', [path.join(repoRoot, 'scripts/ensure-spicedb.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const binary = built.stdout.trim().split('\n').at(-1);
  if (built.status !== 0 || !binary)
    throw new Error('no SpiceDB binary: run npm run spicedb:install');
  return binary;
}
