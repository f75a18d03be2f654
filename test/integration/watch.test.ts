import type { AddressInfo, Socket } from 'node:net';
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthzClient, errorCodeOf, type AuthzClient } from '../../src/client.js';
import { ServiceMetrics } from '../../src/observability/metrics.js';
import { createHttpServer, shutdownGracefully } from '../../src/server.js';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { anyPair } from '../../testkit/check-pairs.js';
import { tokenFor } from '../../testkit/tokens.js';
import { answer, recordWatch, type WatchRecorder } from '../support/watch.js';

describe('authz.watch over SSE against a real SpiceDB', () => {
  let app: TestApp;
  let server: http.Server;
  let url: string;
  const metrics = new ServiceMetrics({ processMetrics: false });
  const clients = new Map<string, AuthzClient>();
  const open: WatchRecorder[] = [];
  const as = (userId: string, scope?: string) => {
    const key = `${userId} ${scope ?? ''}`;
    let client = clients.get(key);
    if (client === undefined) {
      const token = tokenFor(userId, scope ? { scope } : {});
      client = createAuthzClient({ url, getToken: () => token });
      clients.set(key, client);
    }
    return client;
  };
  const watch = (client: AuthzClient, input: Parameters<typeof recordWatch>[1]) => {
    const recorder = recordWatch(client, input);
    open.push(recorder);
    return recorder;
  };

  const eventStreams = new Set<Socket>();
  /** Cuts every open SSE connection, as a network failure would; other requests go on. */
  const dropEventStreams = () => {
    for (const socket of eventStreams) socket.destroy();
    eventStreams.clear();
  };

  beforeAll(async () => {
    app = await createTestApp();
    if (app.services.live) metrics.trackLiveAccess(app.services.live);
    server = createHttpServer(app.services, { metrics });
    server.on('request', (req: http.IncomingMessage) => {
      if (req.headers.accept?.includes('text/event-stream')) eventStreams.add(req.socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const alice = as('alice');
    await alice.org.create.mutate({ orgId: 'acme' });
    await alice.project.create.mutate({ orgId: 'acme', projectId: 'p1' });
    await alice.cluster.create.mutate({ projectId: 'p1', clusterId: 'c1' });
    await alice.org.create.mutate({ orgId: 'globex' });
    await alice.project.create.mutate({ orgId: 'globex', projectId: 'g1' });
  });
  afterAll(async () => {
    for (const recorder of open) recorder.close();
    await new Promise((resolve) => server?.close(resolve));
    app?.close();
  });

  it('sends the initial answers, then flips when another caller revokes', async () => {
    const alice = as('alice');
    await alice.project.addCollaborator.mutate({ projectId: 'p1', userId: 'bob' });
    const bob = watch(as('bob'), {
      checks: [
        { resource: 'cluster:c1', permission: 'ssh' },
        { resource: 'project:p1', permission: 'write_settings' },
      ],
    });
    const first = await bob.next(answer('cluster:c1', 'ssh', true));
    expect(first).toMatchObject({ subject: 'user:bob', checkedAt: first.id });
    await bob.next(answer('project:p1', 'write_settings', false));

    const from = bob.events.length;
    await alice.project.removeCollaborator.mutate({ projectId: 'p1', userId: 'bob' });
    const flipped = await bob.next(answer('cluster:c1', 'ssh', false), from);
    expect(flipped.id).toBe(flipped.checkedAt);
    // write_settings did not change: no event for it.
    expect(bob.events.slice(from).map((e) => e.permission)).toEqual(['ssh']);
    bob.close();
  });

  it('delivers nothing for a change in another tenant', async () => {
    const alice = as('alice');
    await alice.project.addCollaborator.mutate({ projectId: 'p1', userId: 'dave' });
    const dave = watch(as('dave'), {
      checks: [{ resource: 'project:p1', permission: 'view_name' }],
    });
    await dave.next(answer('project:p1', 'view_name', true));
    const from = dave.events.length;
    // globex changes first; the Watch stream is ordered, so by the time dave hears about the
    // later p1 change, the globex one has been processed too.
    await alice.project.addCollaborator.mutate({ projectId: 'g1', userId: 'dave' });
    await alice.project.removeCollaborator.mutate({ projectId: 'g1', userId: 'dave' });
    await alice.project.removeCollaborator.mutate({ projectId: 'p1', userId: 'dave' });
    await dave.next(answer('project:p1', 'view_name', false), from);
    expect(dave.events.slice(from)).toHaveLength(1);
    // Event ids are ZedTokens (base64): they may spell "g1" by chance, so look at the resources.
    expect(dave.events.map((e) => e.resource)).not.toContain('project:g1');
    dave.close();
  });

  it('resumes after a dropped connection without missing the change made meanwhile', async () => {
    const alice = as('alice');
    await alice.project.addCollaborator.mutate({ projectId: 'p1', userId: 'erin' });
    const erin = watch(as('erin'), { checks: [{ resource: 'cluster:c1', permission: 'view' }] });
    await erin.next(answer('cluster:c1', 'view', true));
    const lastId = erin.events.at(-1)?.id;
    erin.close();
    await alice.project.removeCollaborator.mutate({ projectId: 'p1', userId: 'erin' });
    // A new connection resuming from the last event id, as EventSource does on reconnect.
    const resumed = watch(as('erin'), {
      checks: [{ resource: 'cluster:c1', permission: 'view' }],
      since: lastId,
    });
    await resumed.next(answer('cluster:c1', 'view', false));
    resumed.close();
  });

  it('reconnects by itself when the server drops the stream, and catches up', async () => {
    const alice = as('alice');
    const frank = watch(as('frank'), {
      checks: [{ resource: 'project:p1', permission: 'read_settings' }],
    });
    await frank.next(answer('project:p1', 'read_settings', false));
    dropEventStreams();
    await alice.project.addCollaborator.mutate({ projectId: 'p1', userId: 'frank' });
    await frank.next(answer('project:p1', 'read_settings', true));
    frank.close();
  });

  it('loses no change when the shared SpiceDB Watch stream reconnects', async () => {
    const alice = as('alice');
    const live = app.services.live!;
    const leo = watch(as('leo'), { checks: [{ resource: 'cluster:c1', permission: 'ssh' }] });
    await leo.next(answer('cluster:c1', 'ssh', false));
    const reconnects = live.watch.counters.reconnects;
    live.watch.interrupt();
    await alice.project.addCollaborator.mutate({ projectId: 'p1', userId: 'leo' });
    await leo.next(answer('cluster:c1', 'ssh', true));
    live.watch.interrupt();
    await alice.project.removeCollaborator.mutate({ projectId: 'p1', userId: 'leo' });
    await leo.next(answer('cluster:c1', 'ssh', false), 2);
    expect(live.watch.counters.reconnects).toBe(reconnects + 2);
    leo.close();
  });

  it('serves a plain EventSource: token in connectionParams, resume with Last-Event-ID', async () => {
    const input = encodeURIComponent(
      JSON.stringify({ checks: [{ resource: 'project:p1', permission: 'read_settings' }] }),
    );
    const params = encodeURIComponent(JSON.stringify({ token: await tokenFor('alice') }));
    const firstData = async (headers: Record<string, string>) => {
      const abort = new AbortController();
      const response = await fetch(
        `${url}/trpc/authz.watch?input=${input}&connectionParams=${params}`,
        { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal },
      );
      let text = '';
      const decoder = new TextDecoder();
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        if (/^id: /m.test(text) || text.includes('serialized-error')) break;
      }
      abort.abort();
      return text;
    };
    const fresh = await firstData({});
    expect(fresh).toContain('"subject":"user:alice","allowed":true');
    const id = /^id: (.+)$/m.exec(fresh)?.[1] ?? '';
    expect(id.length).toBeGreaterThan(0);
    const resumed = await firstData({ 'last-event-id': id });
    expect(resumed).toContain('"allowed":true');
    // A malformed resume point is refused, naming the field.
    const refused = await firstData({ 'last-event-id': 'not a token!' });
    expect(refused).toContain('serialized-error');
    expect(refused).toContain('lastEventId');
  });

  it('lets a caller watch only their own access; the backend scope may watch anyone', async () => {
    const mallory = watch(as('mallory'), {
      checks: [{ resource: 'project:p1', permission: 'read_settings', subject: 'user:alice' }],
    });
    expect(errorCodeOf(await mallory.failure())).toBe('FORBIDDEN');
    const backend = watch(as('billing-service', BACKEND_SCOPE), {
      checks: [{ resource: 'project:p1', permission: 'read_settings', subject: 'user:alice' }],
    });
    expect(await backend.next(answer('project:p1', 'read_settings', true))).toMatchObject({
      subject: 'user:alice',
    });
    backend.close();
  });

  it('refuses oversized subscriptions and too many of them, with clear codes', async () => {
    const checks = Array.from({ length: 101 }, (_, i) => ({
      resource: `project:x${i}` as const,
      permission: 'view_name' as const,
    }));
    const oversized = watch(as('grace'), { checks });
    const refusal = await oversized.failure();
    expect(errorCodeOf(refusal)).toBe('BAD_REQUEST');
    expect(String(refusal)).toContain('at most 100');

    const max = app.services.live?.limits.maxSubscriptionsPerCaller ?? 0;
    const many = Array.from({ length: max }, () =>
      watch(as('heidi'), { checks: [{ resource: 'project:p1', permission: 'view_name' }] }),
    );
    await Promise.all(many.map((w) => w.next(() => true)));
    const extra = watch(as('heidi'), {
      checks: [{ resource: 'project:p1', permission: 'view_name' }],
    });
    const tooMany = await extra.failure();
    expect(errorCodeOf(tooMany)).toBe('TOO_MANY_REQUESTS');
    expect(String(tooMany)).toContain(`at most ${max}`);
    for (const w of many) w.close();
  });

  it('refuses a permission of another type and an unauthenticated caller', async () => {
    const wrong = watch(as('ivan'), { checks: [anyPair('project:p1', 'ssh')] });
    expect(errorCodeOf(await wrong.failure())).toBe('BAD_REQUEST');
    const anonymous = createAuthzClient({ url, getToken: () => undefined });
    const refused = watch(anonymous, {
      checks: [{ resource: 'project:p1', permission: 'view_name' }],
    });
    expect(errorCodeOf(await refused.failure())).toBe('UNAUTHORIZED');
  });

  it('shows open subscriptions and event lag in /metrics', async () => {
    const alice = as('alice');
    const judy = watch(as('judy'), {
      checks: [{ resource: 'project:p1', permission: 'view_name' }],
    });
    await judy.next(answer('project:p1', 'view_name', false));
    await alice.project.addCollaborator.mutate({ projectId: 'p1', userId: 'judy' });
    await judy.next(answer('project:p1', 'view_name', true));
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/^authz_watch_subscriptions_open [1-9]/m);
    expect(text).toMatch(/^authz_watch_event_lag_seconds_count [1-9]/m);
    expect(text).toMatch(/^authz_watch_stream_connected 1/m);
    judy.close();
  });
});

describe('authz.watch and the SIGTERM drain', () => {
  it('ends open streams so the drain completes', async () => {
    const app = await createTestApp();
    const server = createHttpServer(app.services);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const token = await tokenFor('kim');
    const kim = recordWatch(createAuthzClient({ url, getToken: () => token }), {
      checks: [{ resource: 'user:kim', permission: 'view_profile' }],
    });
    await kim.next(answer('user:kim', 'view_profile', true));
    const { drained } = await shutdownGracefully(server, app.services, { timeoutMs: 5_000 });
    expect(drained).toBe(true);
    kim.close();
  });
});
