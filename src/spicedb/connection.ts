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
}

const KEEPALIVE: Record<string, number> = {
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
};

export function connectRemote(options: RemoteOptions): SpiceDbConnection {
  const security = options.insecure
    ? v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS
    : v1.ClientSecurity.SECURE;
  const client = v1.NewClient(options.token, options.endpoint, security, undefined, KEEPALIVE);
  const p = client.promises;
  const api: SpiceDbApi = {
    checkPermission: (r, m, o) => p.checkPermission(r, m, o),
    checkBulkPermissions: (r, m, o) => p.checkBulkPermissions(r, m, o),
    writeRelationships: (r, m, o) => p.writeRelationships(r, m, o),
    deleteRelationships: (r, m, o) => p.deleteRelationships(r, m, o),
    expandPermissionTree: (r, m, o) => p.expandPermissionTree(r, m, o),
    readSchema: (r, m, o) => p.readSchema(r, m, o),
    writeSchema: (r, m, o) => p.writeSchema(r, m, o),
    readRelationships: (r, m, o) => client.readRelationships(r, m, o),
    lookupResources: (r, m, o) => client.lookupResources(r, m, o),
    lookupSubjects: (r, m, o) => client.lookupSubjects(r, m, o),
  };
  return {
    api,
    client,
    kind: 'remote',
    description: `SpiceDB at ${options.endpoint}${options.insecure ? ' (plaintext)' : ' (TLS)'}`,
    close: () => client.close(),
  };
}
