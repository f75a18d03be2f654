import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LiveAccess } from '../authz/live-access.js';
import type { NodeStatus } from '../spicedb/node-pool.js';

/** Buckets in seconds: sub-millisecond SpiceDB checks up to the 5 s default deadline. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/**
 * The service's Prometheus metrics, in a registry of its own so that two instances in one
 * process (the replicas test) do not mix their numbers.
 */
export class ServiceMetrics {
  readonly registry = new Registry();

  readonly httpRequests = new Histogram({
    name: 'authz_http_request_duration_seconds',
    help: 'HTTP requests by route and status code, with their duration',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly procedureCalls = new Counter({
    name: 'authz_trpc_requests_total',
    help: 'tRPC procedure calls by procedure, type and result code (OK or the tRPC error code)',
    labelNames: ['procedure', 'type', 'code'] as const,
    registers: [this.registry],
  });

  readonly procedureDuration = new Histogram({
    name: 'authz_trpc_request_duration_seconds',
    help: 'tRPC procedure latency by procedure and result code',
    labelNames: ['procedure', 'code'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly spicedbCalls = new Histogram({
    name: 'authz_spicedb_call_duration_seconds',
    help: 'Latency of each SpiceDB call attempt by gRPC method and outcome',
    labelNames: ['method', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly coalescedBatchSize = new Histogram({
    name: 'authz_spicedb_coalesced_batch_size',
    help: 'Number of checks sent to SpiceDB together in one coalesced CheckBulkPermissions call',
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });

  readonly watchSubscriptions = new Gauge({
    name: 'authz_watch_subscriptions_open',
    help: 'Open authz.watch subscriptions on this instance',
    registers: [this.registry],
  });

  readonly watchEventLag = new Histogram({
    name: 'authz_watch_event_lag_seconds',
    help: 'From a relationship change (or an expiry) reaching this instance to its authz.watch event being sent',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly watchRechecks = new Counter({
    name: 'authz_watch_rechecks_total',
    help: 'Checks re-evaluated because a relationship change could affect them',
    registers: [this.registry],
  });

  readonly watchStreamConnected = new Gauge({
    name: 'authz_watch_stream_connected',
    help: "1 while the instance's SpiceDB Watch stream is connected",
    registers: [this.registry],
  });

  readonly watchStreamReconnects = new Counter({
    name: 'authz_watch_stream_reconnects_total',
    help: 'Reconnections of the SpiceDB Watch stream by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly spicedbNodeCalls = new Counter({
    name: 'authz_spicedb_node_calls_total',
    help: 'SpiceDB calls by the node that served them (host:port) and outcome (ok or error)',
    labelNames: ['node', 'outcome'] as const,
    registers: [this.registry],
  });

  private nodeSource: () => NodeStatus[] = () => [];

  readonly spicedbNodeUp: Gauge<'node'>;

  constructor(options: { processMetrics?: boolean } = {}) {
    const nodes = () => this.nodeSource();
    this.spicedbNodeUp = new Gauge({
      name: 'authz_spicedb_node_up',
      help: '1 while a SpiceDB node answers (calls and health probes), 0 while calls skip it',
      labelNames: ['node'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const node of nodes()) this.set({ node: node.address }, node.up ? 1 : 0);
      },
    });
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: 'authz_' });
    }
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.observe({ method, route, status: String(status) }, seconds);
  }

  observeProcedure(procedure: string, type: string, code: string, seconds: number): void {
    this.procedureCalls.inc({ procedure, type, code });
    this.procedureDuration.observe({ procedure, code }, seconds);
  }

  /** Shaped as GatewayOptions.onCall. */
  readonly observeSpiceDbCall = (method: string, seconds: number, ok: boolean): void => {
    this.spicedbCalls.observe({ method, outcome: ok ? 'ok' : 'error' }, seconds);
  };

  /** Shaped as RemoteOptions.onNodeCall. */
  readonly observeSpiceDbNode = (node: string, ok: boolean): void => {
    this.spicedbNodeCalls.inc({ node, outcome: ok ? 'ok' : 'error' });
  };

  /** Where `authz_spicedb_node_up` reads the nodes from (the connection's pool). */
  watchSpiceDbNodes(nodes: () => NodeStatus[]): void {
    this.nodeSource = nodes;
  }

  readonly observeCoalescedBatch = (size: number): void => {
    this.coalescedBatchSize.observe(size);
  };

  /** Counts `live`'s subscriptions and times its events. */
  trackLiveAccess(live: LiveAccess): void {
    live.observe({
      onSubscriptions: (open) => this.watchSubscriptions.set(open),
      onEventLag: (seconds) => this.watchEventLag.observe(seconds),
      onRecheck: (checks) => this.watchRechecks.inc(checks),
    });
    live.watch.observe({
      onConnectedChange: (connected) => this.watchStreamConnected.set(connected ? 1 : 0),
      onReconnect: (reason) => this.watchStreamReconnects.inc({ reason }),
    });
  }

  contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
