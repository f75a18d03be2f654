import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { v1 } from '@authzed/authzed-node';
import type { ClientReadableStream, Metadata, CallOptions } from '@grpc/grpc-js';

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
  expandPermissionTree: Unary<v1.ExpandPermissionTreeRequest, v1.ExpandPermissionTreeResponse>;
  readSchema: Unary<v1.ReadSchemaRequest, v1.ReadSchemaResponse>;
  writeSchema: Unary<v1.WriteSchemaRequest, v1.WriteSchemaResponse>;
  readRelationships: ServerStream<v1.ReadRelationshipsRequest, v1.ReadRelationshipsResponse>;
  lookupResources: ServerStream<v1.LookupResourcesRequest, v1.LookupResourcesResponse>;
  lookupSubjects: ServerStream<v1.LookupSubjectsRequest, v1.LookupSubjectsResponse>;
  watch: ServerStream<v1.WatchRequest, v1.WatchResponse>;
}

export interface SpiceDbConnection {
  api: SpiceDbApi;
  /** The full authzed-node client, for bulk import/export; absent for the embedded server. */
  client?: v1.ZedClientInterface;
  kind: 'remote' | 'embedded';
  description: string;
  close(): void;
}

export interface RemoteOptions {
  endpoint: string;
  token: string;
  insecure: boolean;
  /**
   * HTTP/2 connections to spread calls over (default 1). One connection multiplexes every call;
   * more only help when a single connection's framing becomes the bottleneck.
   */
  channels?: number;
}

/**
 * Channel options for throughput. SpiceDB keeps grpc-go's default keepalive enforcement (pings
 * at most every 5 minutes, none while no call is open: measured against v1.56.2, a client
 * pinging every 2 s idle gets GOAWAY too_many_pings), so the client pings only while calls are
 * open and no more often than that; every call has a deadline anyway, which is what bounds a
 * call on a dead connection.
 */
export const CHANNEL_OPTIONS: Record<string, number> = {
  'grpc.keepalive_time_ms': 300_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.keepalive_permit_without_calls': 0,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  // The gateway retries what is safe itself, within the call's deadline.
  'grpc.enable_retries': 0,
};

/**
 * One long-lived client (or a small fixed pool) for the process: no per-request construction.
 * Calls go round-robin over the pool.
 */
export function connectRemote(options: RemoteOptions): SpiceDbConnection {
  const security = options.insecure
    ? v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS
    : v1.ClientSecurity.SECURE;
  const size = Math.max(1, Math.floor(options.channels ?? 1));
  const clients = Array.from({ length: size }, () =>
    v1.NewClient(
      options.token,
      options.endpoint,
      security,
      undefined,
      // Channels with equal options share one connection unless each keeps its own subchannels.
      size > 1 ? { ...CHANNEL_OPTIONS, 'grpc.use_local_subchannel_pool': 1 } : CHANNEL_OPTIONS,
    ),
  );
  const first = clients[0] as v1.ZedClientInterface;
  let turn = 0;
  const next = (): v1.ZedClientInterface =>
    size === 1 ? first : (clients[(turn = (turn + 1) % size)] as v1.ZedClientInterface);
  const api: SpiceDbApi = {
    checkPermission: (r, m, o) => next().promises.checkPermission(r, m, o),
    checkBulkPermissions: (r, m, o) => next().promises.checkBulkPermissions(r, m, o),
    writeRelationships: (r, m, o) => next().promises.writeRelationships(r, m, o),
    deleteRelationships: (r, m, o) => next().promises.deleteRelationships(r, m, o),
    expandPermissionTree: (r, m, o) => next().promises.expandPermissionTree(r, m, o),
    readSchema: (r, m, o) => next().promises.readSchema(r, m, o),
    writeSchema: (r, m, o) => next().promises.writeSchema(r, m, o),
    readRelationships: (r, m, o) => next().readRelationships(r, m, o),
    lookupResources: (r, m, o) => next().lookupResources(r, m, o),
    lookupSubjects: (r, m, o) => next().lookupSubjects(r, m, o),
    // One long-lived stream per instance (src/spicedb/watch.ts): always the first channel.
    watch: (r, m, o) => first.watch(r, m, o),
  };
  return {
    api,
    client: first,
    kind: 'remote',
    description: `SpiceDB at ${options.endpoint}${options.insecure ? ' (plaintext)' : ' (TLS)'}${
      size > 1 ? ` over ${size} channels` : ''
    }`,
    close: () => {
      for (const client of clients) client.close();
    },
  };
}
