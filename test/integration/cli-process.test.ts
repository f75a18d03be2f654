import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliIo } from '../../src/cli/index.js';
import { freePort } from '../../src/spicedb/loopback.js';
import {
  repoRoot,
  runNode,
  startService,
  type ServiceProcess,
} from '../support/service-process.js';

/**
 * The `authz` executable as people run it (bin/authz.js from the sources, a real process):
 * help, suggestions, errors with their next step, contexts, completion, colour, import
 * without SpiceDB, and `seed` against a real service process.
 */
let home: string;
beforeAll(() => {
  home = mkdtempSync(path.join(tmpdir(), 'authz-cli-home-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

function authz(argv: string[], env: NodeJS.ProcessEnv = {}) {
  return runNode([path.join(repoRoot, 'bin/authz.js'), ...argv], {
    env: {
      PATH: process.env.PATH,
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, 'config'),
      AUTHZ_CLI_SOURCE: '1',
      ...env,
    },
  });
}

describe('authz: help, suggestions and errors', () => {
  it('`check --help` shows check’s own usage and examples, exit 0', async () => {
    const help = await authz(['check', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(
      /^Usage: authz check \[options\] <resource> <permission> \[subject\]/,
    );
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toContain('--at-least-as-fresh');
    expect(help.stdout).not.toContain('Commands:');
  });

  it('a misspelt command suggests the right one in a few lines, exit 2', async () => {
    const typo = await authz(['chek', 'cluster:acme_gpu1', 'ssh']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown command 'chek'");
    expect(typo.stderr).toContain('Did you mean check?');
    expect(typo.stderr.trim().split('\n').length).toBeLessThanOrEqual(3);
    const option = await authz(['import', 'x.txt', '--dry-rn']);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain('Did you mean --dry-run?');
  });

  it('an unreachable service: the URL, the cause and the next step, exit 3', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const result = await authz(['check', 'cluster:acme_gpu1', 'ssh', '--url', url, '--token', 't']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`cannot reach the service at ${url} (ECONNREFUSED)`);
    expect(result.stderr).toContain('npm start');
    expect(result.stderr).toContain('authz context set');
  });
});

describe('authz context', () => {
  it('set / use / list / delete, kept in $XDG_CONFIG_HOME/authz/config.json with mode 0600', async () => {
    const config = path.join(home, 'ctx');
    const env = { XDG_CONFIG_HOME: config };
    const set = await authz(
      ['context', 'set', 'prod', '--url', 'https://authz.example', '--token', 'jwt-1'],
      env,
    );
    expect(set).toMatchObject({ code: 0 });
    expect(set.stdout).toContain('(current)');
    await authz(
      [
        'context',
        'set',
        'dev',
        '--url',
        'http://127.0.0.1:3000',
        '--dev-user',
        'support',
        '--backend',
      ],
      env,
    );
    const file = path.join(config, 'authz', 'config.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({
      current: 'prod',
      contexts: {
        prod: { url: 'https://authz.example', token: 'jwt-1' },
        dev: { url: 'http://127.0.0.1:3000', devUser: 'support', backend: true },
      },
    });
    expect((await authz(['context', 'use', 'dev'], env)).code).toBe(0);
    const list = await authz(['context', 'list'], env);
    expect(list.stdout).toContain('* dev  http://127.0.0.1:3000  dev token for support (backend)');
    expect(list.stdout).toContain('  prod  https://authz.example  token');
    expect(list.stdout).not.toContain('jwt-1');
    expect((await authz(['context', 'delete', 'prod'], env)).code).toBe(0);
    const missing = await authz(['check', 'cluster:c1', 'ssh', '--context', 'prod'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no context named "prod" (known: dev)');
  });
});

describe('authz completion and colour', () => {
  it('prints bash and zsh scripts that complete commands, options and permission names', async () => {
    const bash = await authz(['completion', 'bash']);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain('complete -o default -F _authz_complete authz');
    const zsh = await authz(['completion', 'zsh']);
    expect(zsh.stdout).toContain('compdef _authz authz');
    const commands = await authz(['__complete', 'ex']);
    expect(commands.stdout.split('\n')).toEqual(['explain', 'export', '']);
    const permissions = await authz(['__complete', 'check', 'cluster:acme_gpu1', 's']);
    expect(permissions.stdout.trim().split('\n')).toEqual(['scale', 'ssh', 'submit_slurm_job']);
    const flags = await authz(['__complete', 'import', 'file.csv', '--c']);
    expect(flags.stdout.trim().split('\n')).toEqual([
      '--checkpoint',
      '--concurrency',
      '--chunk-size',
    ]);
  });

  it('colours verdicts and errors only on a terminal, and never with NO_COLOR', async () => {
    const run = async (isTTY: boolean, env: NodeJS.ProcessEnv) => {
      const err: string[] = [];
      const io: CliIo = { stdout: () => undefined, stderr: (t) => err.push(t), env, isTTY };
      await runCli(['check', 'cluster:acme_gpu1', 'shh'], io);
      return err.join('\n');
    };
    const red = '\u001b[31m';
    expect(await run(true, {})).toContain(red);
    expect(await run(false, {})).not.toContain(red);
    expect(await run(true, { NO_COLOR: '1' })).not.toContain(red);
  });
});

describe('authz import without SpiceDB', () => {
  it('--dry-run validates and counts with no SpiceDB configured; flags reach the importer', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'authz-cli-import-'));
    try {
      const good = path.join(dir, 'good.txt');
      writeFileSync(good, 'organization:acme#owner@user:alice\nproject:p1#admin@user:alice\n');
      const dry = await authz(['import', good, '--dry-run', '--mode', 'create', '--streams', '2']);
      expect(dry.stderr).not.toContain('SPICEDB_ENDPOINT');
      expect(dry.code).toBe(0);
      expect(dry.stdout).toMatch(/^import create dry-run: read 2, valid 2, would write 2,/m);

      const bad = path.join(dir, 'bad.txt');
      writeFileSync(bad, 'organization:acme#owner@user:alice\nproject:p1#pilot@user:alice\n');
      const invalid = await authz(['import', bad, '--dry-run', '--json']);
      expect(invalid.code).toBe(1);
      expect(JSON.parse(invalid.stdout)).toMatchObject({ ok: false, invalid: 1 });
      expect(invalid.stderr).toContain(`${bad}:2:`);

      const noServer = await authz(['import', good]);
      expect(noServer.code).toBe(2);
      expect(noServer.stderr).toContain('SPICEDB_ENDPOINT');
      const badFlag = await authz(['import', good, '--concurrency', 'zero']);
      expect(badFlag.code).toBe(2);
      expect(badFlag.stderr).toContain('must be a positive integer');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('authz seed against a real service process', () => {
  let service: ServiceProcess;
  beforeAll(async () => {
    service = await startService(
      { node: ['--import', 'tsx', 'src/main.ts'] },
      { AUTH_JWT_SECRET: undefined, AUTH_JWKS_URL: undefined, NODE_ENV: 'development' },
    );
  }, 90_000);
  afterAll(async () => {
    await service?.stop();
  });

  it('creates the sample organization once, saves a backend context; the README checks answer', async () => {
    const env = { XDG_CONFIG_HOME: path.join(home, 'seed'), AUTHZ_URL: service.url };
    const first = await authz(['seed'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`seeded organization:acme at ${service.url}`);
    const again = await authz(['seed', '--json'], env);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false, writes: 0 });

    // The saved context is enough: no token, no URL on the command line.
    const contextOnly = { XDG_CONFIG_HOME: env.XDG_CONFIG_HOME };
    const allowed = await authz(
      ['check', 'cluster:acme_gpu1', 'ssh', 'user:external_member'],
      contextOnly,
    );
    expect(allowed).toMatchObject({
      code: 0,
      stdout: 'ALLOWED  user:external_member can ssh on cluster:acme_gpu1\n',
    });
    const denied = await authz(
      ['check', 'cluster:acme_gpu1', 'scale', 'user:external_member'],
      contextOnly,
    );
    expect(denied).toMatchObject({
      code: 1,
      stdout: 'DENIED  user:external_member cannot scale on cluster:acme_gpu1\n',
    });
    const projects = await authz(
      ['lookup', 'resources', 'project', 'view_name', 'org_member_outside'],
      contextOnly,
    );
    expect(projects.stdout).toBe('project:acme_ml\nproject:acme_web\n');
  }, 90_000);
});
