import http from 'node:http';
import { v1 } from '@authzed/authzed-node';
import { Metadata } from '@grpc/grpc-js';
import { createTRPCClient, httpBatchLink, httpLink } from '@trpc/client';
import { createAuthzClient } from '../../../src/client.js';
import type { AppRouter } from '../../../src/trpc/routers/_app.js';
import type { BenchCheck } from '../platform.js';
import { asCheckInput, type CheckOp } from './closed-loop.js';

/** How the load generator reaches what it measures. */
export type Transport =
  'direct' | 'http-plain' | 'http-typed' | 'link-batch' | 'link-single' | 'link-batch0' | 'healthz';

const DEADLINE_MS = 10_000;

const parseRef = (ref: string) => {
  const at = ref.indexOf(':');
  return { objectType: ref.slice(0, at), objectId: ref.slice(at + 1) };
};

/** An application's own CheckPermission call: the baseline the service is measured against. */
export function directOp(client: v1.ZedClientInterface): CheckOp {
  return async (check) => {
    await client.promises.checkPermission(
      v1.CheckPermissionRequest.create({
        resource: v1.ObjectReference.create(parseRef(check.resource)),
        permission: check.permission,
        subject: v1.SubjectReference.create({
          object: v1.ObjectReference.create(parseRef(check.subject)),
        }),
        consistency: v1.Consistency.create({
          requirement: { oneofKind: 'minimizeLatency', minimizeLatency: true },
        }),
      }),
      new Metadata(),
      { deadline: new Date(Date.now() + DEADLINE_MS) },
    );
  };
}

/** GET with a keep-alive agent, no tRPC client: what curl or a non-TS caller pays. */
export function plainGet(
  baseUrl: string,
  token: string,
): (path: string) => Promise<{ status: number; body: string }> {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const headers = { authorization: `Bearer ${token}` };
  return (path) =>
    new Promise((resolve, reject) => {
      const request = http.get(
        { host: url.hostname, port: url.port, path, agent, headers },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
          response.on('error', reject);
        },
      );
      request.on('error', reject);
    });
}

function plainCheckOp(baseUrl: string, token: string): CheckOp {
  const get = plainGet(baseUrl, token);
  return async (check: BenchCheck) => {
    const input = encodeURIComponent(JSON.stringify(asCheckInput(check)));
    const { status, body } = await get(`/trpc/authz.check?input=${input}`);
    if (status !== 200) throw new Error(`HTTP ${status}: ${body.slice(0, 200)}`);
    const parsed = JSON.parse(body) as { result?: { data?: { allowed?: unknown } } };
    if (typeof parsed.result?.data?.allowed !== 'boolean') throw new Error(`bad answer ${body}`);
  };
}

function linkClient(baseUrl: string, token: string, kind: 'batch' | 'single') {
  const options = { url: `${baseUrl}/trpc`, headers: { authorization: `Bearer ${token}` } };
  return createTRPCClient<AppRouter>({
    links: [kind === 'batch' ? httpBatchLink(options) : httpLink(options)],
  });
}

export function transportOp(
  transport: Transport,
  target: { direct?: v1.ZedClientInterface; url?: string; token: string },
): CheckOp {
  const url = target.url ?? '';
  switch (transport) {
    case 'direct':
      if (!target.direct) throw new Error('direct needs a SpiceDB client');
      return directOp(target.direct);
    case 'http-plain':
      return plainCheckOp(url, target.token);
    case 'http-typed': {
      const client = createAuthzClient({ url, getToken: () => target.token });
      return async (check) => void (await client.authz.check.query(asCheckInput(check)));
    }
    case 'link-batch':
    case 'link-single': {
      const client = linkClient(url, target.token, transport === 'link-batch' ? 'batch' : 'single');
      return async (check) => void (await client.authz.check.query(asCheckInput(check)));
    }
    case 'link-batch0': {
      const client = createAuthzClient({ url, getToken: () => target.token, link: 'batch0' });
      return async (check) => void (await client.authz.check.query(asCheckInput(check)));
    }
    case 'healthz': {
      const get = plainGet(url, target.token);
      return async () => {
        const { status } = await get('/healthz');
        if (status !== 200) throw new Error(`healthz ${status}`);
      };
    }
  }
}
