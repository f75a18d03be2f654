import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';

/** cluster.list / volume.list: a project's clusters and volumes, for its collaborators only. */
describe('listing a project’s clusters and volumes', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await createTestApp();
    const alice = await app.as('alice');
    await alice.org.create({ orgId: 'acme' });
    await alice.org.addMember({ orgId: 'acme', userId: 'bob', role: 'member' });
    await alice.project.create({ orgId: 'acme', projectId: 'train' });
    await alice.project.create({ orgId: 'acme', projectId: 'serve' });
    await alice.project.addCollaborator({ projectId: 'train', userId: 'dave' });
    await alice.cluster.create({ projectId: 'train', clusterId: 'h100-b' });
    await alice.cluster.create({ projectId: 'train', clusterId: 'h100-a' });
    await alice.volume.create({ projectId: 'train', volumeId: 'datasets' });
    await alice.cluster.create({ projectId: 'serve', clusterId: 'a100' });
  });

  afterAll(() => app?.close());

  const codeOf = (promise: Promise<unknown>) =>
    promise.then(
      () => 'OK',
      (error: unknown) => (error instanceof TRPCError ? error.code : String(error)),
    );

  it('answers a collaborator, external ones included, with that project’s children only', async () => {
    const dave = await app.as('dave');
    expect(await dave.cluster.list({ projectId: 'train' })).toEqual({
      clusterIds: ['h100-a', 'h100-b'],
    });
    expect(await dave.volume.list({ projectId: 'train' })).toEqual({ volumeIds: ['datasets'] });
    const alice = await app.as('alice');
    expect(await alice.cluster.list({ projectId: 'serve' })).toEqual({ clusterIds: ['a100'] });
    expect(await alice.volume.list({ projectId: 'serve' })).toEqual({ volumeIds: [] });
  });

  it('refuses whoever may not see them, and refuses an unknown project alike (FORBIDDEN)', async () => {
    const bob = await app.as('bob'); // an organization member, not a collaborator of train
    expect(await codeOf(bob.cluster.list({ projectId: 'train' }))).toBe('FORBIDDEN');
    const dave = await app.as('dave');
    expect(await codeOf(dave.volume.list({ projectId: 'serve' }))).toBe('FORBIDDEN');
    expect(await codeOf(dave.cluster.list({ projectId: 'nope' }))).toBe('FORBIDDEN');
    expect(await codeOf(dave.cluster.list({ projectId: 'bad id' }))).toBe('BAD_REQUEST');
  });

  it('follows a deletion at once (read-your-writes)', async () => {
    const alice = await app.as('alice');
    await alice.cluster.create({ projectId: 'serve', clusterId: 'tmp' });
    expect((await alice.cluster.list({ projectId: 'serve' })).clusterIds).toContain('tmp');
    await alice.cluster.delete({ clusterId: 'tmp' });
    expect((await alice.cluster.list({ projectId: 'serve' })).clusterIds).not.toContain('tmp');
  });
});
