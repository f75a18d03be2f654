import type { AddressInfo } from 'node:net';
import { createServices } from '../../src/app.js';
import { discardSink } from '../../src/audit/audit-trail.js';
import { createHttpServer } from '../../src/server.js';
import { benchServiceSetup } from './service-env.js';

/**
 * The service as its own process for the watch benchmark (run with --expose-gc), so its memory
 * per open subscription is measured alone. IPC: `ready` with its port; `stats` with heap and
 * RSS after a full GC and the live-access counters; `interrupt` drops the SpiceDB Watch stream
 * as a network failure would; `close`.
 */
const { env, connection } = benchServiceSetup({
  RATE_LIMIT_PER_SECOND: '100000',
  RATE_LIMIT_BURST: '100000',
});
const services = createServices(env, connection, {}, discardSink);
const live = services.live;
if (live === undefined) throw new Error('the service was built without live access');
const server = createHttpServer(services);
server.keepAliveTimeout = 60_000;

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', port });
});

const gc = (globalThis as { gc?: () => void }).gc;

process.on('message', (message: { type?: string }) => {
  if (message.type === 'stats') {
    gc?.();
    gc?.();
    const memory = process.memoryUsage();
    process.send?.({
      type: 'stats',
      heapUsed: memory.heapUsed,
      rss: memory.rss,
      subscriptions: live.openSubscriptions,
      watch: live.watch.counters,
      gateway: services.spicedb.stats,
    });
  }
  if (message.type === 'interrupt') {
    live.watch.interrupt();
    process.send?.({ type: 'interrupted' });
  }
  if (message.type === 'close') {
    live.close();
    server.closeAllConnections();
    server.close(() => {
      connection.close();
      process.exit(0);
    });
  }
});
process.on('disconnect', () => process.exit(0));
