#!/usr/bin/env node
// `authz ...`: the compiled CLI (dist/, `npm run build`) unless the sources are newer than it
// (a development checkout after an edit), then the sources through tsx.
// AUTHZ_CLI_SOURCE=1 forces the sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const sources = fileURLToPath(new URL('../src', import.meta.url));

function compiledIsCurrent() {
  if (process.env.AUTHZ_CLI_SOURCE === '1' || !existsSync(compiled)) return false;
  if (!existsSync(sources)) return true; // an install without sources: the build is all there is
  const built = statSync(compiled).mtimeMs;
  return readdirSync(sources, { recursive: true }).every(
    (file) => statSync(`${sources}/${file}`).mtimeMs <= built,
  );
}

if (compiledIsCurrent()) {
  await import(new URL('../dist/cli/main.js', import.meta.url).href);
} else {
  let tsImport;
  try {
    ({ tsImport } = await import('tsx/esm/api'));
  } catch {
    const problem = existsSync(compiled) ? 'dist/ is older than src/' : 'no compiled CLI in dist/';
    process.stderr.write(`authz: ${problem} and tsx is not installed: run \`npm run build\`\n`);
    process.exit(2);
  }
  await tsImport('../src/cli/main.ts', import.meta.url);
}
