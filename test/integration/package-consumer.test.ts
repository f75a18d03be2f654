/**
 * The packed client as a frontend gets it: `npm run build:client`, `npm pack dist/client`, the
 * tarball installed into a copy of test/package-consumer (from npm's cache where it can:
 * `--prefer-offline`), then `tsc --noEmit` under bundler and Node resolution and an import of the
 * JavaScript. It fails, never skips, when any step cannot run.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STEP_TIMEOUT_MS = 240_000;

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: Array<{ path: string }>;
}

function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, {
      cwd,
      encoding: 'utf8',
      timeout: STEP_TIMEOUT_MS,
      env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${command} ${args.join(' ')} failed in ${cwd}:\n${failed.stdout ?? ''}\n${failed.stderr ?? failed.message}`,
      { cause: error },
    );
  }
}

const versionIn = (dir: string, name: string) =>
  (
    JSON.parse(readFileSync(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;

/** The packages installed at the top of a node_modules folder (scoped ones as @scope/name). */
function installed(dir: string): string[] {
  const modules = path.join(dir, 'node_modules');
  return readdirSync(modules)
    .filter((name) => !name.startsWith('.'))
    .flatMap((name) =>
      name.startsWith('@')
        ? readdirSync(path.join(modules, name)).map((inner) => `${name}/${inner}`)
        : [name],
    )
    .sort();
}

describe('the packed client compiles in a frontend project without the server', () => {
  let work: string;
  let consumer: string;
  let packed: PackResult;

  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'authz-package-consumer-'));
    consumer = path.join(work, 'consumer');
    run('npm', ['run', '--silent', 'build:client'], root);
    const [result] = JSON.parse(
      run('npm', ['pack', './dist/client', '--json', '--pack-destination', work], root),
    ) as PackResult[];
    if (result === undefined) throw new Error('npm pack reported no tarball');
    packed = result;

    cpSync(path.join(root, 'test/package-consumer'), consumer, { recursive: true });
    cpSync(path.join(work, packed.filename), path.join(consumer, 'authz-service.tgz'));
    // The repository's own versions, which npm's cache holds after `npm ci`: offline-capable.
    const manifestPath = path.join(consumer, 'package.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
    manifest.dependencies = {
      ...(manifest.dependencies as Record<string, string>),
      '@trpc/client': versionIn(root, '@trpc/client'),
      '@trpc/server': versionIn(root, '@trpc/server'),
    };
    manifest.devDependencies = { typescript: versionIn(root, 'typescript') };
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
    run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'],
      consumer,
    );
  }, STEP_TIMEOUT_MS * 3);

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('packs the client alone: its JavaScript, one declaration file, manifest and README', () => {
    expect(packed.files.map((file) => file.path).sort()).toEqual([
      'README.md',
      'client-batch-link.js',
      'client.d.ts',
      'client.js',
      'package.json',
    ]);
    // A few kilobytes: the router's type, not the server's code.
    expect(packed.size).toBeLessThan(50_000);
  });

  it('installs none of the server’s dependencies', () => {
    const server = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const clientOwn = new Set(['@trpc/client', '@trpc/server', 'eventsource']);
    const serverOnly = Object.keys(server.dependencies).filter((name) => !clientOwn.has(name));
    expect(serverOnly).toContain('@authzed/authzed-node');
    const present = installed(consumer);
    expect(present).toEqual(
      expect.arrayContaining(['authz-service', '@trpc/client', 'eventsource']),
    );
    expect(present.filter((name) => serverOnly.includes(name))).toEqual([]);
    expect(existsSync(path.join(consumer, 'node_modules/authz-service/src'))).toBe(false);
  });

  it('compiles index.ts (right calls, and wrong pairs refused) with bundler resolution', () => {
    // tsc exits non-zero on any error, an unused @ts-expect-error included.
    run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], consumer);
  });

  it('compiles under Node’s own resolution too', () => {
    run(
      process.execPath,
      ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.node.json'],
      consumer,
    );
  });

  it('loads the JavaScript with the consumer’s packages alone', () => {
    const script = [
      "const m = await import('authz-service/client');",
      "const client = m.createAuthzClient({ url: 'http://127.0.0.1:1', getToken: () => undefined });",
      'console.log(JSON.stringify({ create: typeof m.createAuthzClient, errorCodeOf: typeof m.errorCodeOf, check: typeof client.authz.check.query }));',
    ].join('\n');
    const output = run(process.execPath, ['--input-type=module', '-e', script], consumer);
    expect(JSON.parse(output.trim())).toEqual({
      create: 'function',
      errorCodeOf: 'function',
      check: 'function',
    });
  });
});
