import { readFileSync } from 'node:fs';
import { v1 } from '@authzed/authzed-node';
import { Metadata } from '@grpc/grpc-js';
import { relationship, type RelationshipTuple } from '../../../src/spicedb/proto.js';

/**
 * Loads the platform with ImportBulkRelationships, one call per 50,000 relationships: each call
 * is one transaction, and SpiceDB ends a call that runs past its streaming timeout (30 s).
 */
export async function importPlatform(
  client: v1.ZedClientInterface,
  tuples: Iterable<RelationshipTuple>,
): Promise<number> {
  const iterator = tuples[Symbol.iterator]();
  let exhausted = false;
  const importChunk = () =>
    new Promise<number>((resolve, reject) => {
      const stream = client.importBulkRelationships(
        new Metadata(),
        { deadline: new Date(Date.now() + 10 * 60_000) },
        (error, response) => {
          if (error) reject(error);
          else resolve(Number(response?.numLoaded ?? 0));
        },
      );
      let sent = 0;
      const pump = () => {
        while (sent < 50_000) {
          const relationships: v1.Relationship[] = [];
          for (let step = iterator.next(); ; step = iterator.next()) {
            if (step.done) {
              exhausted = true;
              break;
            }
            relationships.push(relationship(step.value));
            if (relationships.length >= 5_000) break;
          }
          sent += relationships.length;
          if (relationships.length > 0) {
            const more = stream.write(v1.ImportBulkRelationshipsRequest.create({ relationships }));
            if (exhausted) break;
            if (!more) {
              stream.once('drain', pump);
              return;
            }
          }
          if (exhausted) break;
        }
        stream.end();
      };
      pump();
    });
  let loaded = 0;
  while (!exhausted) loaded += await importChunk();
  return loaded;
}

/** CPU milliseconds (user + system) a process has used so far, from /proc (Linux). */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}
