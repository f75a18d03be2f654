import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { v1 } from '@authzed/authzed-node';
import {
  Client,
  credentials,
  Metadata,
  type CallOptions,
  type ClientReadableStream,
  status as GrpcStatus,
  type StatusObject,
} from '@grpc/grpc-js';
import { grpcStatusOf } from './errors.js';
import { describeTarget, parseEndpoint, resolveTarget, type Lookup } from './endpoints.js';
import { NodePool, type NodeStatus, type NodeTransport } from './node-pool.js';

export const SCHEMA_PATH = fileURLToPath(new URL('../../schema.zed', import.meta.url));

export async function readSchemaFile(path = SCHEMA_PATH): Promise<string> {
  return readFile(path, 'utf8');
}

type Unary<Req, Res> = (
  request: Req,
  metadata?: Metadata,
  options?: Partial<CallOptions>,
) => Promise<Res>;
type ServerStream<Req, Res> = (
  request: Req,
  metadata?: Metadata | CallOptions,
  options?: CallOptions,
) => ClientReadableStream<Res>;

/** The part of the SpiceDB API the service uses; the network client and the embedded one both provide it. */
export interface SpiceDbApi {
  checkPermission: Unary<v1.CheckPermissionRequest, v1.CheckPermissionResponse>;
  checkBulkPermissions: Unary<v1.CheckBulkPermissionsRequest, v1.CheckBulkPermissionsResponse>;
  writeRelationships: Unary<v1.WriteRelationshipsRequest, v1.WriteRelationshipsResponse>;
  deleteRelationships: Unary<v1.DeleteRelationshipsRequest, v1.DeleteRelationshipsResponse>;
  readSchema: Unary<v1.ReadSchemaRequest, v1.ReadSchemaResponse>;
  writeSchema: Unary<v1.WriteSchemaRequest, v1.WriteSchemaResponse>;
  diffSchema: Unary<v1.DiffSchemaRequest, v1.DiffSchemaResponse>;
  reflectSchema: Unary<v1.ReflectSchemaRequest, v1.ReflectSchemaResponse>;
  readRelationships: ServerStream<v1.ReadRelationshipsRequest, v1.ReadRelationshipsResponse>;
  lookupResources: ServerStream<v1.LookupResourcesRequest, v1.LookupResourcesResponse>;
  lookupSubjects: ServerStream<v1.LookupSubjectsRequest, v1.LookupSubjectsResponse>;
  watch: ServerStream<v1.WatchRequest, v1.WatchResponse>;
}

export interface SpiceDbConnection {
  api: SpiceDbApi;
  /** The full authzed-node client, for bulk import/export; absent for the embedded server. */
  client?: v1.ZedClientInterface | undefined;
  kind: 'remote' | 'embedded';
  description: string;
  /** Remote: each node's address, whether it answers, and its calls and errors. */
  nodes?: () => NodeStatus[];
  /** Remote: settles once the node addresses are known (a `dns:` endpoint resolves first). */
  resolved?: Promise<void>;
  close(): void;
}

export interface RemoteOptions {
  /** SPICEDB_ENDPOINT: `host:port`, a comma-separated list of them, or `dns://[server]/name:port`. */
  endpoint: string;
  token: string;
  insecure: boolean;
  /**
   * HTTP/2 connections per node to spread calls over (default 1). One connection multiplexes every
   * call; more only help when a single connection's framing becomes the bottleneck.
   */
  channels?: number;
  /** Told of every finished call with the node that served it (per-node metrics). */
  onNodeCall?: (address: string, ok: boolean) => void;
  /** Health probes of every node (default every 1000 ms, 500 ms deadline). */
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  /** How often a `dns:` endpoint is resolved again (default 30 s): nodes come and go. */
  dnsRefreshMs?: number;
  lookup?: Lookup;
}

/**
 * Channel options for throughput. SpiceDB keeps grpc-go's default keepalive enforcement (pings
 * at most every 5 minutes, none while no call is open: measured against v1.56.2, a client
 * pinging every 2 s idle gets GOAWAY too_many_pings), so the client pings only while calls are
 * open and no more often than that; what bounds a call on a dead or frozen connection is its
 * deadline, and the node pool's health probes (node-pool.ts). A restarted node is reconnected
 * within 2 s (grpc-js would otherwise back off up to 2 minutes).
 */
export const CHANNEL_OPTIONS: Record<string, number> = {
  'grpc.keepalive_time_ms': 300_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.keepalive_permit_without_calls': 0,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 2_000,
  // The call policy retries what is safe itself, within the call's deadline.
  'grpc.enable_retries': 0,
};

const HEALTH_CHECK = '/grpc.health.v1.Health/Check';
/** HealthCheckResponse { status: SERVING } is field 1 (varint) = 1. */
const SERVING = Buffer.from([0x08, 0x01]);

/** One node: its API clients (round robin over `channels` of them) and a health client. */
function nodeTransport(
  address: string,
  options: RemoteOptions,
): NodeTransport<v1.ZedClientInterface> {
  const size = Math.max(1, Math.floor(options.channels ?? 1));
  const security = options.insecure
    ? v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS
    : v1.ClientSecurity.SECURE;
  const clients = Array.from({ length: size }, () =>
    v1.NewClient(
      options.token,
      address,
      security,
      undefined,
      // Channels with equal options share one connection unless each keeps its own subchannels.
      size > 1 ? { ...CHANNEL_OPTIONS, 'grpc.use_local_subchannel_pool': 1 } : CHANNEL_OPTIONS,
    ),
  );
  // The health service needs no preshared key. It is asked over the API client's own channel,
  // so "answers" means that channel (its connection, its reconnect backoff) works too.
  const health = new Client(address, credentials.createInsecure(), {
    // authzed-node hides it in its types; its client proxies grpc-js Client members.
    channelOverride: (clients[0] as unknown as Client).getChannel(),
  });
  let turn = 0;
  return {
    client: () => clients[size === 1 ? 0 : (turn = (turn + 1) % size)] as v1.ZedClientInterface,
    probe: (timeoutMs) =>
      new Promise((resolve) => {
        health.makeUnaryRequest(
          HEALTH_CHECK,
          () => Buffer.alloc(0),
          (bytes: Buffer) => bytes,
          {},
          new Metadata(),
          { deadline: new Date(Date.now() + timeoutMs) },
          (error, response) => resolve(!error && response?.equals(SERVING) === true),
        );
      }),
    close: () => {
      for (const client of clients) client.close();
      health.close();
    },
  };
}

/**
 * The service never cancels a unary call (its only bound is the deadline), so CANCELLED on one
 * comes from the server: grpc-go resets a stream (RST_STREAM CANCEL, which grpc-js reports as
 * "Call cancelled") when the call's deadline passes on its side, as it does when a node waits on
 * a frozen peer. Reported as what it is, DEADLINE_EXCEEDED: a read is retried, and the caller
 * hears SERVICE_UNAVAILABLE rather than "client closed request".
 */
function serverCancelAsDeadline(error: unknown): unknown {
  const status = grpcStatusOf(error);
  if (status?.code !== GrpcStatus.CANCELLED) return error;
  return Object.assign(error as object, {
    code: GrpcStatus.DEADLINE_EXCEEDED,
    details: `${status.message} (reset by the server: its deadline passed)`,
  });
}

/**
 * The service's remote SpiceDB: one long-lived client per node (no per-request construction),
 * calls spread round robin over the nodes that answer (node-pool.ts says why a pool).
 */
export function connectRemote(options: RemoteOptions): SpiceDbConnection {
  const target = parseEndpoint(options.endpoint);
  const pool = new NodePool((address) => nodeTransport(address, options), {
    ...(options.probeIntervalMs !== undefined ? { probeIntervalMs: options.probeIntervalMs } : {}),
    ...(options.probeTimeoutMs !== undefined ? { probeTimeoutMs: options.probeTimeoutMs } : {}),
    ...(options.onNodeCall ? { onNodeCall: options.onNodeCall } : {}),
  });
  let refresh: NodeJS.Timeout | undefined;
  let resolved: Promise<void>;
  if (target.kind === 'static') {
    pool.setAddresses(target.addresses);
    resolved = Promise.resolve();
  } else {
    const resolve = async () => pool.setAddresses(await resolveTarget(target, options.lookup));
    resolved = resolve();
    // Resolved again now and then; a failed lookup keeps the nodes already known.
    refresh = setInterval(
      () => void resolve().catch(() => undefined),
      options.dnsRefreshMs ?? 30_000,
    );
    refresh.unref();
  }
  // Several nodes: probe them, so a frozen one is left out before calls pile up on it.
  if (target.kind === 'dns' || target.addresses.length > 1) pool.startProbing();

  type On<F> = F extends (...args: infer A) => infer R
    ? (client: v1.ZedClientInterface, ...args: A) => R
    : never;
  const unary =
    <Req, Res>(call: On<Unary<Req, Res>>): Unary<Req, Res> =>
    async (request, metadata, callOptions) => {
      if (pool.size === 0) await resolved;
      const node = pool.pick();
      try {
        const response = await call(node.transport.client(), request, metadata, callOptions);
        pool.finished(node);
        return response;
      } catch (error) {
        const failure = serverCancelAsDeadline(error);
        pool.finished(node, failure);
        throw failure;
      }
    };
  const stream =
    <Req, Res>(call: On<ServerStream<Req, Res>>): ServerStream<Req, Res> =>
    (request, metadata, callOptions) => {
      const node = pool.pick();
      const opened = call(node.transport.client(), request, metadata, callOptions);
      opened.on('status', (status: StatusObject) => {
        pool.finished(node, status.code === GrpcStatus.OK ? undefined : status);
      });
      return opened;
    };

  const api: SpiceDbApi = {
    checkPermission: unary((c, r, m, o) => c.promises.checkPermission(r, m, o)),
    checkBulkPermissions: unary((c, r, m, o) => c.promises.checkBulkPermissions(r, m, o)),
    writeRelationships: unary((c, r, m, o) => c.promises.writeRelationships(r, m, o)),
    deleteRelationships: unary((c, r, m, o) => c.promises.deleteRelationships(r, m, o)),
    readSchema: unary((c, r, m, o) => c.promises.readSchema(r, m, o)),
    writeSchema: unary((c, r, m, o) => c.promises.writeSchema(r, m, o)),
    diffSchema: unary((c, r, m, o) => c.promises.diffSchema(r, m, o)),
    reflectSchema: unary((c, r, m, o) => c.promises.reflectSchema(r, m, o)),
    readRelationships: stream((c, r, m, o) => c.readRelationships(r, m, o)),
    lookupResources: stream((c, r, m, o) => c.lookupResources(r, m, o)),
    lookupSubjects: stream((c, r, m, o) => c.lookupSubjects(r, m, o)),
    // One long-lived stream per instance (src/spicedb/watch.ts); a reconnect picks a node that
    // answers, so the stream moves off a node that died.
    watch: stream((c, r, m, o) => c.watch(r, m, o)),
  };
  const channels = Math.max(1, Math.floor(options.channels ?? 1));
  return {
    api,
    /** A node that answers, for the bulk tools' streams (they retry what they started). */
    get client() {
      return pool.size === 0 ? undefined : pool.pick().transport.client();
    },
    kind: 'remote',
    description: `SpiceDB at ${describeTarget(target)}${options.insecure ? ' (plaintext)' : ' (TLS)'}${
      channels > 1 ? ` over ${channels} channels per node` : ''
    }`,
    nodes: () => pool.statuses(),
    resolved,
    close: () => {
      if (refresh) clearInterval(refresh);
      pool.close();
    },
  };
}
