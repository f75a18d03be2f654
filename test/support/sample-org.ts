import { SAMPLE, SAMPLE_SETUP, userOf, type Persona } from '../../testkit/matrix.js';
import { RESOURCE_TYPES } from '../../src/authz/schema.js';
import type { SpiceDbConnection } from '../../src/spicedb/connection.js';
import { appRouter } from '../../src/trpc/routers/_app.js';
import { createCallerFactory } from '../../src/trpc/trpc.js';
import { SETUP_OPERATIONS } from '../../testkit/sample-org.js';
import { createTestApp, type TestApp } from './app.js';

export interface SampleOrg {
  app: TestApp;
  /** The zedToken of the last setup write. */
  zedToken: string;
}

/** Runs one SAMPLE_SETUP step as its actor; unknown operations fail loudly. */
export async function runSetupStep(
  app: TestApp,
  step: { actor: Persona; op: string; input: Record<string, unknown> },
): Promise<string> {
  const operation = SETUP_OPERATIONS[step.op];
  if (operation === undefined) throw new Error(`SAMPLE_SETUP uses unknown operation ${step.op}`);
  const { zedToken } = await operation(await app.as(step.actor), step.input);
  if (!zedToken) throw new Error(`${step.op} by ${step.actor} returned no zedToken`);
  return zedToken;
}

/**
 * The sample organization of testkit/matrix.ts, built through the service's own procedures
 * as each actor of SAMPLE_SETUP, on a fresh SpiceDB (or the given connection).
 * `user:X#view_profile` is `self` in the schema, so it needs no relationship: the stranger,
 * who appears in no setup step, can view their own profile all the same.
 */
export async function buildSampleOrg(connection?: SpiceDbConnection): Promise<SampleOrg> {
  const app = await createTestApp(connection);
  let zedToken = '';
  for (const step of SAMPLE_SETUP) {
    zedToken = await runSetupStep(app, step);
  }
  return { app, zedToken };
}

const createCaller = createCallerFactory(appRouter);

/** A caller sending exactly this Authorization header (or none), for token tests. */
export function callerWithAuthorization(app: TestApp, authorization: string | undefined) {
  return createCaller({ ...app.services, authorization, requestId: 'token-test' });
}

/** The user id a backend service (scope authz:check) uses in the tests. */
export const BACKEND_USER = 'backend_service';

export interface ObservedState {
  /** Every relationship in SpiceDB, as `type:id#relation@type:id`, sorted. */
  relationships: string[];
  members: unknown;
  collaborators: Record<string, unknown>;
}

/**
 * What a refused mutation must leave unchanged: every relationship SpiceDB holds (which fixes
 * every answer of the matrix), and what the organization's and both projects' listings say,
 * all read fully consistently.
 */
export async function observeSampleOrg(app: TestApp): Promise<ObservedState> {
  const strong = { kind: 'fullyConsistent' } as const;
  const relationships = (
    await Promise.all(
      RESOURCE_TYPES.map((resourceType) =>
        app.services.spicedb.readRelationships({ resourceType }, strong),
      ),
    )
  )
    .flat()
    .map((r) => `${r.resourceType}:${r.resourceId}#${r.relation}@${r.subjectType}:${r.subjectId}`)
    .sort();
  const owner = await app.as(userOf('owner'));
  const fullyConsistent = { fullyConsistent: true } as const;
  const collaborators: Record<string, unknown> = {};
  for (const projectId of [SAMPLE.projectId, SAMPLE.otherProjectId]) {
    collaborators[projectId] = (
      await owner.project.listCollaborators({ projectId, consistency: fullyConsistent })
    ).collaborators;
  }
  const { members } = await owner.org.listMembers({
    orgId: SAMPLE.orgId,
    consistency: fullyConsistent,
  });
  return { relationships, members, collaborators };
}

/** What a tRPC response looks like on the wire without a transformer. */
export type WireResponse =
  | { result: { data: unknown } }
  | { error: { message: string; code: number; data: { code: string; httpStatus: number } } };

export interface HttpCall {
  status: number;
  body: WireResponse;
}

/**
 * Plain-HTTP tRPC calls, as curl or a non-TypeScript caller makes them: queries are GET with
 * `?input=` JSON, mutations POST a JSON body; nothing is transformed.
 */
export function httpTrpc(baseUrl: string, token: (persona: string) => Promise<string>) {
  const headers = async (persona: string | undefined) =>
    persona === undefined ? {} : { authorization: `Bearer ${await token(persona)}` };
  const parse = async (response: Response): Promise<HttpCall> => ({
    status: response.status,
    body: (await response.json()) as WireResponse,
  });
  return {
    async query(persona: string | undefined, path: string, input?: unknown): Promise<HttpCall> {
      const query =
        input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
      return parse(
        await fetch(`${baseUrl}/trpc/${path}${query}`, { headers: await headers(persona) }),
      );
    },
    async mutation(persona: string | undefined, path: string, input?: unknown): Promise<HttpCall> {
      return parse(
        await fetch(`${baseUrl}/trpc/${path}`, {
          method: 'POST',
          headers: { ...(await headers(persona)), 'content-type': 'application/json' },
          body: input === undefined ? '' : JSON.stringify(input),
        }),
      );
    },
    /** A tRPC batch GET: several calls of one or more procedures in one request. */
    async batchQuery(
      persona: string,
      calls: Array<{ path: string; input: unknown }>,
    ): Promise<{ status: number; body: WireResponse[] }> {
      const paths = calls.map((c) => c.path).join(',');
      const inputs = Object.fromEntries(calls.map((c, index) => [String(index), c.input]));
      const response = await fetch(
        `${baseUrl}/trpc/${paths}?batch=1&input=${encodeURIComponent(JSON.stringify(inputs))}`,
        { headers: await headers(persona) },
      );
      return { status: response.status, body: (await response.json()) as WireResponse[] };
    },
  };
}

/** The data of a successful wire response; throws with the wire error otherwise. */
export function dataOf<T>(call: { status: number; body: WireResponse }): T {
  if ('error' in call.body) {
    throw new Error(`HTTP ${call.status}: ${JSON.stringify(call.body.error)}`);
  }
  return call.body.result.data as T;
}
