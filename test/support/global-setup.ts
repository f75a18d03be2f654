import type { TestProject } from 'vitest/node';
import { provideTestSpiceDb } from './spicedb-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    spicedb: import('./spicedb-server.js').TestSpiceDbTarget;
  }
}

export default async function setup(project: TestProject) {
  const running = await provideTestSpiceDb();
  const target = running.target;
  console.log(
    target.mode === 'server'
      ? `[spicedb] tests use a real SpiceDB server at ${target.endpoint} (${target.source})`
      : `[spicedb] tests use the EMBEDDED SpiceDB: ${target.source}`,
  );
  project.provide('spicedb', target);
  return async () => {
    await running.stop();
  };
}
