import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  matrixCells,
  PERSONAS,
  userOf,
  type MatrixCell,
  type Persona,
} from '../../testkit/matrix.js';
import { BACKEND_SCOPE } from '../../src/trpc/auth.js';
import { chunk } from '../../src/util/chunk.js';
import { startHttpApp, type TestApp } from '../support/app.js';
import { buildSampleOrg, dataOf, httpTrpc } from '../support/sample-org.js';
import { tokenFor } from '../../testkit/tokens.js';
import { anyPair } from '../../testkit/check-pairs.js';

const BACKEND = 'billing_backend';

const cells = matrixCells().map((cell) => ({
  ...cell,
  ref: `${cell.resource.type}:${cell.resource.id}`,
  label: `${cell.persona} ${cell.expected ? 'holds' : 'lacks'} ${cell.resource.type}:${cell.resource.id}#${cell.permission}`,
}));

const checkInput = (cell: MatrixCell, subject?: string) => ({
  // matrix.ts keeps permissions as strings; the service validates each pair.
  ...anyPair(`${cell.resource.type}:${cell.resource.id}`, cell.permission),
  ...(subject !== undefined ? { subject } : {}),
});

let app: TestApp;
let callers: Map<Persona, Awaited<ReturnType<TestApp['as']>>>;
let backend: Awaited<ReturnType<TestApp['as']>>;

beforeAll(async () => {
  ({ app } = await buildSampleOrg());
  callers = new Map(
    await Promise.all(PERSONAS.map(async (p) => [p, await app.as(userOf(p))] as const)),
  );
  backend = await app.as(BACKEND, BACKEND_SCOPE);
});
afterAll(() => app.close());

describe('the seed matrix has one cell per persona and permission', () => {
  it('covers 9 personas x 38 permissions plus own and other profile', () => {
    expect(cells).toHaveLength(360);
    expect(new Set(cells.map((c) => c.label)).size).toBe(360);
  });
});

describe('authz.check as the persona (subject defaults to the caller)', () => {
  it.each(cells)('$label', async (cell) => {
    const caller = callers.get(cell.persona);
    if (caller === undefined) throw new Error(`no caller for ${cell.persona}`);
    const answer = await caller.authz.check(checkInput(cell));
    expect(answer.allowed).toBe(cell.expected);
    expect(answer.checkedAt).not.toBe('');
  });
});

describe('authz.check by a backend service (scope authz:check) about the persona', () => {
  it.each(cells)('$label', async (cell) => {
    const answer = await backend.authz.check(checkInput(cell, `user:${userOf(cell.persona)}`));
    expect(answer.allowed).toBe(cell.expected);
  });
});

describe('authz.checkBulk gives the same answers, in order', () => {
  it.each(PERSONAS.map((persona) => ({ persona })))('as $persona', async ({ persona }) => {
    const own = cells.filter((c) => c.persona === persona);
    const caller = callers.get(persona);
    if (caller === undefined) throw new Error(`no caller for ${persona}`);
    const { results } = await caller.authz.checkBulk({ items: own.map((c) => checkInput(c)) });
    expect(results.map((r) => r.allowed)).toEqual(own.map((c) => c.expected));
  });

  it('by a backend service, about every persona at once (mixed subjects in one call)', async () => {
    // At most 100 items per call: chunks of the whole matrix, subjects interleaved.
    for (const slice of chunk(cells, 100)) {
      const { results } = await backend.authz.checkBulk({
        items: slice.map((c) => checkInput(c, `user:${userOf(c.persona)}`)),
      });
      expect(results.map((r) => r.allowed)).toEqual(slice.map((c) => c.expected));
    }
  });
});

describe('the whole matrix over real HTTP (plain JSON, no transformer)', () => {
  it('answers every cell through GET /trpc/authz.check and tRPC batch GETs', async () => {
    const http = await startHttpApp(app);
    try {
      const client = httpTrpc(http.url, (persona) => tokenFor(persona));
      // One unbatched GET, the shape curl sees.
      const [first] = cells;
      if (first === undefined) throw new Error('empty matrix');
      const single = await client.query(first.persona, 'authz.check', checkInput(first));
      expect(single.status).toBe(200);
      expect(single.body).toEqual({
        result: { data: { allowed: first.expected, checkedAt: expect.any(String) as string } },
      });

      // Every cell, one batch GET per persona (40 calls in one request).
      let answered = 0;
      for (const persona of PERSONAS) {
        const own = cells.filter((c) => c.persona === persona);
        const batch = await client.batchQuery(
          persona,
          own.map((c) => ({ path: 'authz.check', input: checkInput(c) })),
        );
        expect(batch.status).toBe(200);
        expect(batch.body).toHaveLength(own.length);
        batch.body.forEach((response, index) => {
          const cell = own[index];
          const data = dataOf<{ allowed: boolean; checkedAt: string }>({
            status: batch.status,
            body: response,
          });
          expect({ cell: cell?.label, allowed: data.allowed }).toEqual({
            cell: cell?.label,
            allowed: cell?.expected,
          });
          expect(typeof data.checkedAt).toBe('string');
          answered += 1;
        });
      }
      expect(answered).toBe(360);
    } finally {
      await http.close();
    }
  });
});
