import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveEvent } from '../../src/authz/live-access.js';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * A collaborator added with `expiresAt` BEFORE the subscription opened: no Watch event of this
 * subscription's lifetime names the expiry, so the service reads it when the subscription opens.
 */
describe('authz.watch and access that was already expiring when the subscription opened', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await createTestApp();
    const alice = await app.as('alice');
    await alice.org.create({ orgId: 'acme' });
    await alice.project.create({ orgId: 'acme', projectId: 'p1' });
  });
  afterAll(() => app?.close());

  it('flips to denied at the expiry, with no write and no event to learn it from', async () => {
    const live = app.services.live;
    if (live === undefined) throw new Error('the test services have no live access');
    const alice = await app.as('alice');
    const expiresAt = new Date(Date.now() + 5_000);
    await alice.project.addCollaborator({
      projectId: 'p1',
      userId: 'contractor',
      expiresAt: expiresAt.toISOString(),
    });

    const abort = new AbortController();
    const stream = live.open(
      'contractor',
      [
        {
          resource: { type: 'project', id: 'p1' },
          permission: 'read_settings',
          subject: { type: 'user', id: 'contractor' },
        },
      ],
      abort.signal,
    );
    const next = async (): Promise<LiveEvent> => {
      const result = await stream.next();
      if (result.done) throw new Error('the stream ended');
      return result.value;
    };
    expect((await next()).allowed).toBe(true);
    // The read at open time scheduled the expiry (two re-checks: just after it, and once more).
    await expect.poll(() => live.scheduledExpiries).toBeGreaterThan(0);
    const flipped = await next();
    expect(flipped).toMatchObject({ resource: 'project:p1', allowed: false });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt.getTime());
    abort.abort();
    await stream.return(undefined);
  }, 30_000);
});
