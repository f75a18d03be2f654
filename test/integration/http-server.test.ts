import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServerOptions } from '../../src/server.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { TEST_JWT_SECRET } from '../../testkit/tokens.js';

/** The page's static files and the development token endpoint, over real HTTP. */
describe('HTTP server: page and development tokens', () => {
  let app: TestApp;
  let root: string;
  const servers: http.Server[] = [];

  beforeAll(async () => {
    app = await createTestApp();
    root = mkdtempSync(path.join(tmpdir(), 'authz-web-'));
    mkdirSync(path.join(root, 'built/assets'), { recursive: true });
    writeFileSync(path.join(root, 'built/index.html'), '<!doctype html><title>explorer</title>');
    writeFileSync(path.join(root, 'built/assets/app-1234.js'), 'console.log(1)');
    writeFileSync(path.join(root, 'secret.txt'), 'outside the web root');
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    rmSync(root, { recursive: true, force: true });
    app?.close();
  });

  async function start(options: HttpServerOptions): Promise<string> {
    const server = createHttpServer(app.services, options);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** A raw request line, so `..` reaches the server unnormalised. */
  function rawGet(url: string, target: string): Promise<string> {
    const { port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      });
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
  }

  it('serves the built page at / and /explorer, assets with long caching, nothing outside', async () => {
    const url = await start({ webRoot: path.join(root, 'built') });
    for (const page of ['/', '/explorer', '/explorer/']) {
      const response = await fetch(`${url}${page}`);
      expect(response.status, page).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/html');
      expect(await response.text()).toContain('<title>explorer</title>');
    }
    const asset = await fetch(`${url}/assets/app-1234.js`);
    expect(asset.headers.get('content-type')).toContain('text/javascript');
    expect(asset.headers.get('cache-control')).toContain('immutable');

    const outside = [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/../../secret.txt',
      '/%E0%A4%A',
    ];
    for (const target of outside) {
      const raw = await rawGet(url, target);
      expect(raw, target).toMatch(/^HTTP\/1\.1 404/);
      expect(raw, target).not.toContain('outside the web root');
    }
  });

  it('says how to build the page when it is not built', async () => {
    const url = await start({ webRoot: path.join(root, 'missing') });
    const response = await fetch(`${url}/explorer`);
    expect(response.status).toBe(503);
    expect(await response.text()).toContain('npm run build:web');
  });

  it('mints development tokens only when enabled, for valid user ids', async () => {
    const production = await start({ webRoot: false });
    const absent = await fetch(`${production}/dev/token`, {
      method: 'POST',
      body: '{"userId":"a"}',
    });
    expect(absent.status).toBe(404);

    const development = await start({ webRoot: false, devTokens: { secret: TEST_JWT_SECRET } });
    const bad = await fetch(`${development}/dev/token`, {
      method: 'POST',
      body: JSON.stringify({ userId: 'a:b' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('userId');

    const minted = await fetch(`${development}/dev/token`, {
      method: 'POST',
      body: JSON.stringify({ userId: 'alice' }),
    });
    const { token } = (await minted.json()) as { token: string };
    const check = await fetch(
      `${development}/trpc/authz.check?input=${encodeURIComponent(JSON.stringify({ resource: 'user:alice', permission: 'view_profile' }))}`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    expect(check.status).toBe(200);
    expect(await check.json()).toMatchObject({ result: { data: { allowed: true } } });
  });
});
