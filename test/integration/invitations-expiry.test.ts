import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOrganization } from '../../scripts/playground/org-export.js';
import { readSchemaFile } from '../../src/spicedb/connection.js';
import {
  eventually,
  allowedOver,
  inSeconds,
  startHttpService,
  type HttpService,
} from '../support/http-service.js';

/**
 * Invitations and time-limited access over plain HTTP against a real SpiceDB: the contract's
 * org.invite / acceptInvitation / declineInvitation / revokeInvitation / listInvitations, and
 * `expiresAt` on addMember, invite and addCollaborator, expiring by SpiceDB alone.
 */

let svc: HttpService;
const ORG = 'inv-acme';
const PROJECT = 'inv-ml';
const fresh = { fullyConsistent: true } as const;

const allowed = (userId: string, resource: string, permission: string) =>
  allowedOver(svc, userId, resource, permission);

async function members() {
  const answer = await svc.query<{
    members: Array<{ userId: string; role: string; expiresAt?: string }>;
  }>('owner', 'org.listMembers', { orgId: ORG, consistency: fresh });
  if (!answer.ok) throw new Error(answer.message);
  return answer.data.members;
}

async function invitations() {
  const answer = await svc.query<{
    invitations: Array<{ userId: string; role: string; expiresAt?: string }>;
  }>('owner', 'org.listInvitations', { orgId: ORG, consistency: fresh });
  if (!answer.ok) throw new Error(answer.message);
  return answer.data.invitations;
}

beforeAll(async () => {
  svc = await startHttpService();
  await svc.must('owner', 'org.create', { orgId: ORG });
  await svc.must('owner', 'org.addMember', { orgId: ORG, userId: 'ada', role: 'admin' });
  await svc.must('owner', 'org.addMember', { orgId: ORG, userId: 'max', role: 'member' });
  await svc.must('owner', 'project.create', { orgId: ORG, projectId: PROJECT });
});
afterAll(() => svc.close());

describe('name is not the service’s data', () => {
  it.each([
    ['org.create', { orgId: 'named-org', name: 'Named' }],
    ['project.create', { orgId: ORG, projectId: 'named-project', name: 'Named' }],
    ['org.addMember', { orgId: ORG, userId: 'nina', role: 'member', name: 'Nina' }],
  ])('%s with a name is BAD_REQUEST naming `name`, and writes nothing', async (path, input) => {
    const answer = await svc.mutation('owner', path, input);
    expect(answer).toMatchObject({ ok: false, code: 'BAD_REQUEST', status: 400 });
    expect(answer.ok ? '' : answer.message).toMatch(/\bname\b/);
    expect((await members()).map((m) => m.userId)).not.toContain('nina');
    const project = await svc.query('owner', 'project.listCollaborators', {
      projectId: 'named-project',
    });
    expect(project).toMatchObject({ ok: false, code: 'FORBIDDEN' });
  });

  it('a query carrying a name is refused too', async () => {
    expect(await svc.query('owner', 'org.listMembers', { orgId: ORG, name: 'x' })).toMatchObject({
      ok: false,
      code: 'BAD_REQUEST',
    });
  });
});

describe('expiresAt', () => {
  it.each([
    ['org.addMember', { orgId: ORG, userId: 'eve', role: 'member' }],
    ['org.invite', { orgId: ORG, userId: 'eve', role: 'member' }],
    ['project.addCollaborator', { projectId: PROJECT, userId: 'eve' }],
  ])(
    '%s refuses a past, malformed or non-string expiresAt with BAD_REQUEST naming it',
    async (path, input) => {
      for (const expiresAt of [inSeconds(-60), 'tomorrow', '2030-13-01T00:00:00Z', 12, '']) {
        const answer = await svc.mutation('owner', path, { ...input, expiresAt });
        expect(answer, JSON.stringify(expiresAt)).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
        expect(answer.ok ? '' : answer.message).toContain('expiresAt');
      }
      expect((await members()).map((m) => m.userId)).not.toContain('eve');
      expect((await invitations()).map((i) => i.userId)).not.toContain('eve');
    },
  );

  it('listings show it, normalized to UTC, and a role change keeps it', async () => {
    const later = '2999-06-01T12:00:00+02:00';
    const utc = '2999-06-01T10:00:00.000Z';
    await svc.must('owner', 'org.addMember', {
      orgId: ORG,
      userId: 'tess',
      role: 'member',
      expiresAt: later,
    });
    await svc.must('owner', 'project.addCollaborator', {
      projectId: PROJECT,
      userId: 'carl',
      role: 'member',
      expiresAt: later,
    });
    expect(await members()).toContainEqual({ userId: 'tess', role: 'member', expiresAt: utc });
    await svc.must('owner', 'org.setMemberRole', { orgId: ORG, userId: 'tess', role: 'admin' });
    expect(await members()).toContainEqual({ userId: 'tess', role: 'admin', expiresAt: utc });
    await svc.must('owner', 'project.setCollaboratorRole', {
      projectId: PROJECT,
      userId: 'carl',
      role: 'admin',
    });
    const listed = await svc.query<{ collaborators: unknown[] }>(
      'owner',
      'project.listCollaborators',
      {
        projectId: PROJECT,
        consistency: fresh,
      },
    );
    expect(listed.ok && listed.data.collaborators).toContainEqual({
      userId: 'carl',
      role: 'admin',
      external: true,
      expiresAt: utc,
    });
    // Without expiresAt, nothing expires and the listing says nothing of it.
    expect((await members()).find((m) => m.userId === 'max')).toEqual({
      userId: 'max',
      role: 'member',
    });
  });

  it('SpiceDB revokes an expired membership and collaboration by itself', async () => {
    const soon = inSeconds(3);
    await svc.must('owner', 'org.addMember', {
      orgId: ORG,
      userId: 'temp',
      role: 'member',
      expiresAt: soon,
    });
    await svc.must('owner', 'project.addCollaborator', {
      projectId: PROJECT,
      userId: 'contractor',
      expiresAt: soon,
    });
    expect(await allowed('temp', `organization:${ORG}`, 'read_settings')).toBe(true);
    expect(await allowed('contractor', `project:${PROJECT}`, 'use_endpoints')).toBe(true);

    await eventually(async () => !(await allowed('temp', `organization:${ORG}`, 'read_settings')));
    await eventually(
      async () => !(await allowed('contractor', `project:${PROJECT}`, 'use_endpoints')),
    );
    expect((await members()).map((m) => m.userId)).not.toContain('temp');
    const listed = await svc.query<{ collaborators: Array<{ userId: string }> }>(
      'owner',
      'project.listCollaborators',
      { projectId: PROJECT, consistency: fresh },
    );
    expect(listed.ok && listed.data.collaborators.map((c) => c.userId)).not.toContain('contractor');
    // Expired is gone: the same user may be given access again.
    await svc.must('owner', 'org.addMember', { orgId: ORG, userId: 'temp', role: 'member' });
    expect(await allowed('temp', `organization:${ORG}`, 'read_settings')).toBe(true);
  });
});

describe('invitations', () => {
  it('an invitation grants nothing until the invitee accepts it', async () => {
    await svc.must('ada', 'org.invite', { orgId: ORG, userId: 'ivy', role: 'admin' });
    expect(await invitations()).toContainEqual({ userId: 'ivy', role: 'admin' });
    expect(await allowed('ivy', `organization:${ORG}`, 'read_settings')).toBe(false);
    expect(await allowed('ivy', `organization:${ORG}`, 'view_name')).toBe(false);
    expect((await members()).map((m) => m.userId)).not.toContain('ivy');

    const { zedToken } = await svc.must('ivy', 'org.acceptInvitation', { orgId: ORG });
    expect(zedToken).toMatch(/\S/);
    expect(await members()).toContainEqual({ userId: 'ivy', role: 'admin' });
    expect(await allowed('ivy', `organization:${ORG}`, 'invite_member')).toBe(true);
    expect((await invitations()).map((i) => i.userId)).not.toContain('ivy');
  });

  it('an expiring invitation becomes a membership expiring at the same time', async () => {
    const at = '2999-01-01T00:00:00.000Z';
    await svc.must('owner', 'org.invite', {
      orgId: ORG,
      userId: 'gus',
      role: 'member',
      expiresAt: at,
    });
    expect(await invitations()).toContainEqual({ userId: 'gus', role: 'member', expiresAt: at });
    await svc.must('gus', 'org.acceptInvitation', { orgId: ORG });
    expect(await members()).toContainEqual({ userId: 'gus', role: 'member', expiresAt: at });
  });

  it('refuses: a member inviting (FORBIDDEN), inviting a member or twice (CONFLICT), an unknown organization (FORBIDDEN, as one the caller cannot see)', async () => {
    expect(
      await svc.mutation('max', 'org.invite', { orgId: ORG, userId: 'zed', role: 'member' }),
    ).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    expect(
      await svc.mutation('ada', 'org.invite', { orgId: ORG, userId: 'max', role: 'admin' }),
    ).toMatchObject({
      ok: false,
      code: 'CONFLICT',
    });
    await svc.must('ada', 'org.invite', { orgId: ORG, userId: 'zed', role: 'member' });
    expect(
      await svc.mutation('ada', 'org.invite', { orgId: ORG, userId: 'zed', role: 'admin' }),
    ).toMatchObject({
      ok: false,
      code: 'CONFLICT',
    });
    expect(
      await svc.mutation('ada', 'org.invite', {
        orgId: 'no-such-org',
        userId: 'zed',
        role: 'member',
      }),
    ).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    // Only the invitee accepts: anyone else has no invitation of their own to accept.
    expect(await svc.mutation('max', 'org.acceptInvitation', { orgId: ORG })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
    expect(await svc.mutation('stranger', 'org.acceptInvitation', { orgId: ORG })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
    expect(
      await svc.mutation('stranger', 'org.acceptInvitation', { orgId: 'no-such-org' }),
    ).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
    expect(await svc.query('stranger', 'org.listInvitations', { orgId: ORG })).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    expect(
      await svc.mutation('max', 'org.revokeInvitation', { orgId: ORG, userId: 'zed' }),
    ).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    // Members read the invitations, as they read the members list.
    expect(await svc.query('max', 'org.listInvitations', { orgId: ORG })).toMatchObject({
      ok: true,
    });
  });

  it('declined or revoked, the invitation is gone and accepting it fails cleanly', async () => {
    await svc.must('ada', 'org.invite', { orgId: ORG, userId: 'dee', role: 'member' });
    await svc.must('dee', 'org.declineInvitation', { orgId: ORG });
    expect((await invitations()).map((i) => i.userId)).not.toContain('dee');
    expect(await svc.mutation('dee', 'org.declineInvitation', { orgId: ORG })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });

    await svc.must('ada', 'org.invite', { orgId: ORG, userId: 'rex', role: 'admin' });
    await svc.must('ada', 'org.revokeInvitation', { orgId: ORG, userId: 'rex' });
    expect(await svc.mutation('rex', 'org.acceptInvitation', { orgId: ORG })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
    expect(await allowed('rex', `organization:${ORG}`, 'read_settings')).toBe(false);
    expect(
      await svc.mutation('ada', 'org.revokeInvitation', { orgId: ORG, userId: 'rex' }),
    ).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
  });

  it('addMember settles a pending invitation', async () => {
    await svc.must('ada', 'org.invite', { orgId: ORG, userId: 'pam', role: 'admin' });
    await svc.must('ada', 'org.addMember', { orgId: ORG, userId: 'pam', role: 'member' });
    expect((await invitations()).map((i) => i.userId)).not.toContain('pam');
    expect(await members()).toContainEqual({ userId: 'pam', role: 'member' });
  });

  it('an invitation expires by itself: it leaves the listing and can no longer be accepted', async () => {
    await svc.must('ada', 'org.invite', {
      orgId: ORG,
      userId: 'late',
      role: 'member',
      expiresAt: inSeconds(3),
    });
    expect((await invitations()).map((i) => i.userId)).toContain('late');
    await eventually(async () => !(await invitations()).some((i) => i.userId === 'late'));
    expect(await svc.mutation('late', 'org.acceptInvitation', { orgId: ORG })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
    expect(await allowed('late', `organization:${ORG}`, 'read_settings')).toBe(false);
  });

  it('accept racing revoke: exactly one wins, and the state says which', async () => {
    for (let round = 0; round < 8; round += 1) {
      const userId = `racer${round}`;
      await svc.must('ada', 'org.invite', { orgId: ORG, userId, role: 'member' });
      const [accepted, revoked] = await Promise.all([
        svc.mutation(userId, 'org.acceptInvitation', { orgId: ORG }),
        svc.mutation('ada', 'org.revokeInvitation', { orgId: ORG, userId }),
      ]);
      expect([accepted.ok, revoked.ok].filter(Boolean), `round ${round}`).toHaveLength(1);
      const loser = accepted.ok ? revoked : accepted;
      expect(loser).toMatchObject({ ok: false, code: 'NOT_FOUND' });
      expect((await members()).some((m) => m.userId === userId)).toBe(accepted.ok);
      expect(await allowed(userId, `organization:${ORG}`, 'read_settings')).toBe(accepted.ok);
      expect((await invitations()).map((i) => i.userId)).not.toContain(userId);
    }
  });

  it('audits each invitation mutation with its target and outcome', async () => {
    const before = svc.audit.length;
    await svc.must('ada', 'org.invite', {
      orgId: ORG,
      userId: 'aud',
      role: 'member',
      expiresAt: '2999-01-01T00:00:00Z',
    });
    await svc.mutation('aud', 'org.acceptInvitation', { orgId: ORG });
    await svc.mutation('aud', 'org.acceptInvitation', { orgId: ORG });
    const records = svc.audit.slice(before).map((r) => ({
      caller: r.caller,
      operation: r.operation,
      target: r.target,
      outcome: r.outcome,
      written: r.zedToken !== null,
    }));
    expect(records).toEqual([
      {
        caller: 'ada',
        operation: 'org.invite',
        target: { orgId: ORG, userId: 'aud', role: 'member', expiresAt: '2999-01-01T00:00:00Z' },
        outcome: 'ok',
        written: true,
      },
      {
        caller: 'aud',
        operation: 'org.acceptInvitation',
        target: { orgId: ORG },
        outcome: 'ok',
        written: true,
      },
      {
        caller: 'aud',
        operation: 'org.acceptInvitation',
        target: { orgId: ORG },
        outcome: 'NOT_FOUND',
        written: false,
      },
    ]);
  });
});

describe('playground export', () => {
  it('exports pending invitations and expirations, and SpiceDB’s development package validates it', async () => {
    await svc.must('ada', 'org.invite', {
      orgId: ORG,
      userId: 'exported-invitee',
      role: 'admin',
      expiresAt: '2999-03-01T00:00:00Z',
    });
    await svc.must('owner', 'org.addMember', {
      orgId: ORG,
      userId: 'exported-temp',
      role: 'member',
      expiresAt: '2999-03-01T00:00:00Z',
    });
    const { text } = await exportOrganization(svc.services.spicedb, ORG, await readSchemaFile(), {
      validation: false,
    });
    const relationships = text.split('\n').map((line) => line.trim());
    expect(relationships).toContain(
      `invitation:${ORG}#admin@user:exported-invitee[expiration:2999-03-01T00:00:00.000Z]`,
    );
    expect(relationships).toContain(
      `organization:${ORG}#member@user:exported-temp[expiration:2999-03-01T00:00:00.000Z]`,
    );
    expect(relationships).toContain(`organization:${ORG}#member@user:max`);

    const ensure = spawnSync('bash', ['scripts/playground/devvalidate/ensure.sh'], {
      encoding: 'utf8',
      timeout: 900_000,
    });
    expect(ensure.status, ensure.stderr).toBe(0);
    const dir = mkdtempSync(path.join(tmpdir(), 'lifecycle-export-'));
    try {
      const file = path.join(dir, 'export.yaml');
      writeFileSync(file, text);
      const validated = spawnSync(ensure.stdout.trim(), [file], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(validated.stdout + validated.stderr).toContain(': 0 failures');
      expect(validated.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
