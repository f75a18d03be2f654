import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCorsOrigins } from '../../src/http/cors.js';
import { startService, type ServiceProcess } from '../support/service-process.js';

/**
 * CORS over a real service process (`CORS_ORIGINS` set to one page origin), asked by plain
 * HTTP and by a page on another origin in headless Chromium. http://127.0.0.1:P and
 * http://localhost:P are different origins: the first is allowed, the second is not.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PAGE = '<!doctype html><meta charset="utf-8"><title>frontend</title><p>another origin</p>';

describe('CORS_ORIGINS parsing', () => {
  it('exact origins, `*` alone, or none; anything else names the entry', () => {
    expect(parseCorsOrigins(undefined)).toBeUndefined();
    expect(parseCorsOrigins(' , ')).toBeUndefined();
    expect(parseCorsOrigins('https://app.example.com, http://localhost:5173')).toEqual({
      kind: 'origins',
      origins: new Set(['https://app.example.com', 'http://localhost:5173']),
    });
    expect(parseCorsOrigins('*')).toEqual({ kind: 'any' });
    expect(() => parseCorsOrigins('*,https://a.example')).toThrow('`*` cannot be combined');
    expect(() => parseCorsOrigins('https://a.example/app')).toThrow('"https://a.example/app"');
    expect(() => parseCorsOrigins('a.example')).toThrow('"a.example" is not an origin');
    expect(() => parseCorsOrigins('ftp://a.example')).toThrow('is not an origin');
  });
});

describe('CORS from another origin', () => {
  let pageServer: http.Server;
  let pagePort: number;
  let allowedOrigin: string;
  let service: ServiceProcess;
  let anyOrigin: ServiceProcess;
  let browser: BrowserContext | undefined;
  let userDataDir: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install it with \`apt-get install -y chromium\``);
    }
    pageServer = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    });
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    pagePort = (pageServer.address() as AddressInfo).port;
    allowedOrigin = `http://127.0.0.1:${pagePort}`;
    const env = { AUTH_JWT_SECRET: undefined, AUTH_JWKS_URL: undefined, NODE_ENV: 'development' };
    [service, anyOrigin] = await Promise.all([
      startService(
        { node: ['--import', 'tsx', 'src/main.ts'] },
        { ...env, CORS_ORIGINS: `https://app.example.com,${allowedOrigin}` },
      ),
      startService({ node: ['--import', 'tsx', 'src/main.ts'] }, { ...env, CORS_ORIGINS: '*' }),
    ]);
    userDataDir = mkdtempSync(path.join(tmpdir(), 'authz-cors-chromium-'));
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await Promise.all([service?.stop(), anyOrigin?.stop()]);
    await new Promise<void>((resolve) =>
      pageServer ? pageServer.close(() => resolve()) : resolve(),
    );
  });

  const preflight = (url: string, origin: string, path = '/trpc/authz.check') =>
    fetch(`${url}${path}`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });

  it('answers an allowed preflight with 204, methods, headers, max-age, Vary: Origin', async () => {
    const response = await preflight(service.url, allowedOrigin);
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(allowedOrigin);
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    const allowedHeaders = response.headers.get('access-control-allow-headers') ?? '';
    for (const header of ['authorization', 'content-type', 'trpc-accept', 'x-request-id']) {
      expect(allowedHeaders).toContain(header);
    }
    expect(Number(response.headers.get('access-control-max-age'))).toBeGreaterThan(0);
    expect(response.headers.get('vary')).toContain('Origin');
  });

  it('gives a disallowed origin no CORS header at all, preflight or not', async () => {
    const response = await preflight(service.url, 'https://evil.example');
    expect(response.status).toBe(204);
    const cors = [...response.headers.keys()].filter((name) => name.startsWith('access-control'));
    expect(cors).toEqual([]);
    expect(response.headers.get('vary')).toContain('Origin');
    const get = await fetch(`${service.url}/healthz`, {
      headers: { origin: 'https://evil.example' },
    });
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
    const allowed = await fetch(`${service.url}/healthz`, { headers: { origin: allowedOrigin } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe(allowedOrigin);
    expect(allowed.headers.get('access-control-expose-headers')).toContain('x-request-id');
  });

  it('`*` allows any origin and never with credentials', async () => {
    const response = await preflight(anyOrigin.url, 'https://anywhere.example');
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  /** Runs in the page: a dev token, a mutation and a query, each a preflighted call. */
  async function callFromPage(pageUrl: string, serviceUrl: string) {
    const page = await browser!.newPage();
    try {
      await page.goto(pageUrl);
      return await page.evaluate(async (base) => {
        try {
          const minted = await fetch(`${base}/dev/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ userId: 'frontend_user' }),
          });
          const { token } = (await minted.json()) as { token: string };
          const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
          const created = await fetch(`${base}/trpc/org.create`, {
            method: 'POST',
            headers: auth,
            body: JSON.stringify({ orgId: `cors_${Date.now()}` }),
          });
          const input = encodeURIComponent(
            JSON.stringify({ resource: 'user:frontend_user', permission: 'view_profile' }),
          );
          const checked = await fetch(`${base}/trpc/authz.check?input=${input}`, {
            headers: { authorization: `Bearer ${token}` },
          });
          const body = (await checked.json()) as { result: { data: { allowed: boolean } } };
          return {
            ok: true,
            created: created.status,
            allowed: body.result.data.allowed,
            requestId: checked.headers.get('x-request-id'),
          };
        } catch (error) {
          return { ok: false, error: String(error) };
        }
      }, serviceUrl);
    } finally {
      await page.close();
    }
  }

  it('a page on an allowed origin calls the service from Chromium', async () => {
    const result = await callFromPage(`${allowedOrigin}/`, service.url);
    expect(result).toMatchObject({ ok: true, created: 200, allowed: true });
    expect(result.requestId).toMatch(/\S/);
  }, 60_000);

  it('a page on another origin is refused by Chromium', async () => {
    const result = await callFromPage(`http://localhost:${pagePort}/`, service.url);
    expect(result.ok).toBe(false);
    expect(result.error).toContain('Failed to fetch');
  }, 60_000);
});
