import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';

describe('service over a fresh SpiceDB', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(() => app.close());

  it('makes the creator the owner and refuses a member inviting', async () => {
    const alice = await app.as('alice');
    const created = await alice.org.create({ orgId: 'acme' });
    expect(created.zedToken).not.toBe('');
    await alice.org.addMember({ orgId: 'acme', userId: 'bob', role: 'member' });
    const bob = await app.as('bob');
    await expect(
      bob.org.addMember({ orgId: 'acme', userId: 'carol', role: 'member' }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await alice.org.listMembers({ orgId: 'acme' })).toEqual({
      members: [
        { userId: 'alice', role: 'owner' },
        { userId: 'bob', role: 'member' },
      ],
    });
    await expect(
      alice.org.setMemberRole({ orgId: 'acme', userId: 'alice', role: 'member' }),
    ).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
  });
});
