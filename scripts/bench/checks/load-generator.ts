/**
 * The benchmark's load generator, a process of its own: it asks checks of SpiceDB directly or
 * of a service process over HTTP, in closed loops, and reports latencies and its own CPU.
 */
import { v1 } from '@authzed/authzed-node';
import { Metadata } from '@grpc/grpc-js';
import type { BenchCheck } from '../platform.js';
import { closedLoop, cpuMsNow, pageThrough, type CheckOp } from './closed-loop.js';
import { serveRequests } from './ipc.js';
import { plainGet, transportOp, type Transport } from './transports.js';

const endpoint = process.env.BENCH_SPICEDB_ENDPOINT ?? '';
const token = process.env.BENCH_SPICEDB_TOKEN ?? '';
const callerToken = process.env.BENCH_CALLER_TOKEN ?? '';
const direct = v1.NewClient(token, endpoint, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
const ops = new Map<string, CheckOp>();

function opFor(transport: Transport, url: string | undefined): CheckOp {
  const key = `${transport} ${url ?? ''}`;
  let op = ops.get(key);
  if (op === undefined) {
    op = transportOp(transport, { direct, token: callerToken, ...(url ? { url } : {}) });
    ops.set(key, op);
  }
  return op;
}

/** One LookupResources stream, counting the ids as they arrive. */
function directLookup(resourceType: string, permission: string, subject: string) {
  return new Promise<number>((resolve, reject) => {
    let count = 0;
    const stream = direct.lookupResources(
      v1.LookupResourcesRequest.create({
        resourceObjectType: resourceType,
        permission,
        subject: v1.SubjectReference.create({
          object: v1.ObjectReference.create({ objectType: 'user', objectId: subject }),
        }),
        consistency: v1.Consistency.create({
          requirement: { oneofKind: 'minimizeLatency', minimizeLatency: true },
        }),
      }),
      new Metadata(),
      { deadline: new Date(Date.now() + 120_000) },
    );
    stream.on('data', () => (count += 1));
    stream.on('error', reject);
    stream.on('end', () => resolve(count));
  });
}

async function httpLookup(url: string, input: Record<string, unknown>) {
  const get = plainGet(url, callerToken);
  return pageThrough(async (cursor) => {
    const query = encodeURIComponent(JSON.stringify(cursor ? { ...input, cursor } : input));
    const { status, body } = await get(`/trpc/authz.lookupResources?input=${query}`);
    if (status !== 200) throw new Error(`HTTP ${status}: ${body.slice(0, 200)}`);
    return (JSON.parse(body) as { result: { data: { resourceIds: string[]; cursor?: string } } })
      .result.data;
  });
}

serveRequests(
  async (message) => {
    if (message.type === 'run') {
      const op = opFor(message.transport as Transport, message.url as string | undefined);
      return {
        ...(await closedLoop(message.concurrency as number, message.checks as BenchCheck[], op)),
      };
    }
    if (message.type === 'lookup') {
      const { resourceType, permission, subject, limit } = message as unknown as {
        resourceType: string;
        permission: string;
        subject: string;
        limit: number;
      };
      const cpuStart = cpuMsNow();
      const started = performance.now();
      const results =
        message.via === 'direct'
          ? await directLookup(resourceType, permission, subject)
          : await httpLookup(message.url as string, {
              resourceType,
              permission,
              subject: `user:${subject}`,
              limit,
            });
      return {
        results,
        seconds: (performance.now() - started) / 1000,
        cpuMs: cpuMsNow() - cpuStart,
      };
    }
    throw new Error(`unknown request ${String(message.type)}`);
  },
  () => direct.close(),
);
process.send?.({ type: 'ready' });
