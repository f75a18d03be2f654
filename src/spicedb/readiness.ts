import type { SchemaCalls } from './schema-calls.js';

/** True while SpiceDB answers a schema read within a short deadline. */
export async function spiceDbReady(schema: SchemaCalls, timeoutMs = 1_000): Promise<boolean> {
  try {
    await schema.read(timeoutMs);
    return true;
  } catch {
    return false;
  }
}
