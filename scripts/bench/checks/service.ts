/**
 * The service as its own process for the benchmark, as it runs in production: the real HTTP
 * server (createHttpServer over createServices) on a free loopback port. It answers the
 * orchestrator's `cpu` (its process.cpuUsage), `stats` (its gateway's counters), and runs the
 * createCaller scenarios and lookups in-process (`run`, `lookup`).
 */
import type { AddressInfo } from 'node:net';
import { createServices } from '../../../src/app.js';
import { createHttpServer } from '../../../src/server.js';
import { appRouter } from '../../../src/trpc/routers/_app.js';
import { createCallerFactory } from '../../../src/trpc/trpc.js';
import type { ResourceTypePair } from '../../../src/authz/check-pair.js';
import type { BenchCheck } from '../platform.js';
import { benchServiceSetup } from '../service-env.js';
import { asCheckInput, closedLoop, cpuMsNow, pageThrough } from './closed-loop.js';
import { serveRequests } from './ipc.js';
import { windowProfiler } from './profile-window.js';

const { env, connection } = benchServiceSetup({ AUDIT_LOG: 'off' });
const services = createServices(env, connection);
const server = createHttpServer(services, {
  httpLayer: process.env.BENCH_HTTP_LAYER === 'standalone' ? 'standalone' : 'lean',
});
server.keepAliveTimeout = 60_000;
const caller = createCallerFactory(appRouter)({
  ...services,
  authorization: `Bearer ${process.env.BENCH_CALLER_TOKEN ?? ''}`,
  requestId: 'bench',
});

const profiler = windowProfiler();

serveRequests(
  async (message) => {
    switch (message.type) {
      case 'cpu':
        return { cpuMs: cpuMsNow(), systemMs: process.cpuUsage().system / 1000 };
      case 'profile-start':
        await profiler.start(message.intervalUs as number | undefined);
        return {};
      case 'profile-stop':
        return { file: await profiler.stop(message.file as string) };
      case 'stats':
        return { stats: services.spicedb.stats, rss: process.memoryUsage().rss };
      case 'run':
        return {
          ...(await closedLoop(
            message.concurrency as number,
            message.checks as BenchCheck[],
            async (check) => void (await caller.authz.check(asCheckInput(check))),
          )),
        };
      case 'lookup': {
        const input = {
          ...({
            resourceType: message.resourceType as string,
            permission: message.permission as string,
          } as ResourceTypePair),
          subject: `user:${message.subject as string}`,
          limit: message.limit as number,
        };
        const cpuStart = cpuMsNow();
        const started = performance.now();
        const results = await pageThrough((cursor) =>
          caller.authz.lookupResources(cursor ? { ...input, cursor } : input),
        );
        return {
          results,
          seconds: (performance.now() - started) / 1000,
          cpuMs: cpuMsNow() - cpuStart,
        };
      }
      default:
        throw new Error(`unknown request ${String(message.type)}`);
    }
  },
  () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => {
        services.spicedb.close();
        resolve();
      });
    }),
);

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', port });
});
