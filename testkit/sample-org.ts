import { randomUUID } from 'node:crypto';
import { createServices } from '../src/app.js';
import { SAMPLE_SETUP, userOf } from './matrix.js';
import { loadEnv } from '../src/config/env.js';
import type { SpiceDbConnection } from '../src/spicedb/connection.js';
import type { Services } from '../src/trpc/context.js';
import { appRouter } from '../src/trpc/routers/_app.js';
import { createCallerFactory } from '../src/trpc/trpc.js';
import { tokenFor } from './tokens.js';

const createCaller = createCallerFactory(appRouter);
export type Caller = ReturnType<typeof createCaller>;
type Input = Record<string, unknown>;

/**
 * The procedures SAMPLE_SETUP names. Inputs are plain records in matrix.ts; the service's own
 * zod inputs validate them at run time.
 */
export const SETUP_OPERATIONS: Record<
  string,
  (caller: Caller, input: Input) => Promise<{ zedToken: string }>
> = {
  'org.create': (c, i) => c.org.create(i as Parameters<Caller['org']['create']>[0]),
  'org.addMember': (c, i) => c.org.addMember(i as Parameters<Caller['org']['addMember']>[0]),
  'project.create': (c, i) => c.project.create(i as Parameters<Caller['project']['create']>[0]),
  'project.join': (c, i) => c.project.join(i as Parameters<Caller['project']['join']>[0]),
  'project.addCollaborator': (c, i) =>
    c.project.addCollaborator(i as Parameters<Caller['project']['addCollaborator']>[0]),
  'project.setCollaboratorRole': (c, i) =>
    c.project.setCollaboratorRole(i as Parameters<Caller['project']['setCollaboratorRole']>[0]),
  'cluster.create': (c, i) => c.cluster.create(i as Parameters<Caller['cluster']['create']>[0]),
  'volume.create': (c, i) => c.volume.create(i as Parameters<Caller['volume']['create']>[0]),
};

/** The service's procedures over `connection`, callable as any user (HS256 tokens of its own). */
export function serviceOver(connection: SpiceDbConnection): {
  services: Services;
  as(userId: string): Promise<Caller>;
} {
  const secret = `playground-${randomUUID()}`;
  const env = loadEnv({
    NODE_ENV: 'test',
    AUTH_JWT_SECRET: secret,
    SPICEDB_TIMEOUT_MS: '30000',
    AUDIT_LOG: 'off',
    LOG_LEVEL: 'silent',
  });
  const services = createServices(env, connection);
  return {
    services,
    async as(userId) {
      const token = await tokenFor(userId, { secret, expiresIn: '10m' });
      return createCaller({
        ...services,
        authorization: `Bearer ${token}`,
        requestId: 'playground',
      });
    },
  };
}

/**
 * Builds the sample organization of testkit/matrix.ts through the service's procedures, as
 * each actor of SAMPLE_SETUP. `user#view_profile` is `self` in the schema: it needs no
 * relationship, so the stranger, who appears in no setup step, needs none either.
 */
export async function buildSampleOrganization(connection: SpiceDbConnection): Promise<Services> {
  const service = serviceOver(connection);
  for (const step of SAMPLE_SETUP) {
    const operation = SETUP_OPERATIONS[step.op];
    if (operation === undefined) throw new Error(`SAMPLE_SETUP uses unknown operation ${step.op}`);
    await operation(await service.as(userOf(step.actor)), step.input);
  }
  return service.services;
}
