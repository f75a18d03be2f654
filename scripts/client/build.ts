/**
 * `npm run build:client`: the typed client as a package a frontend installs on its own
 * (docs/client.md), in dist/client:
 *
 * - client.js, client-batch-link.js: src/client.ts and its link, compiled by tsc;
 * - client.d.ts: one self-contained declaration file, the router's type included, bundled by
 *   dts-bundle-generator. The server's request context (trpc/context.ts: the SpiceDB gateway,
 *   the audit trail, the rate limiter...) reaches the router's type but never a caller, so its
 *   declaration is replaced by an empty one before bundling: the bundle then needs none of the
 *   server's packages, and the build fails if it names any package but the allowed ones;
 * - package.json: name `authz-service`, the `./client` export, eventsource as its dependency and
 *   @trpc/client, @trpc/server as peers; README.md is docs/client.md.
 *
 * `npm pack dist/client` makes the tarball (test/integration/package-consumer.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateDtsBundle } from 'dts-bundle-generator';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const scratch = path.join(root, 'dist/.client-build'); // tsconfig.client.json's outDir
const out = path.join(root, 'dist/client');
const require = createRequire(import.meta.url);

/** What the client's JavaScript and declarations may import: its dependency and its peers. */
const RUNTIME_DEPENDENCIES = ['eventsource'] as const;
const PEER_DEPENDENCIES = ['@trpc/client', '@trpc/server'] as const;
const ALLOWED = new Set<string>([...RUNTIME_DEPENDENCIES, ...PEER_DEPENDENCIES]);

interface Manifest {
  version: string;
  license?: string;
  engines?: Record<string, string>;
  dependencies: Record<string, string>;
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** Every bare module specifier of a JavaScript or declaration text (comments aside). */
function importsOf(source: string): string[] {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found = new Set<string>();
  const pattern = /(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g;
  for (const match of text.matchAll(pattern)) {
    const specifier = match[1];
    if (specifier !== undefined && !specifier.startsWith('.')) found.add(specifier);
  }
  return [...found];
}

function refuseForeignImports(file: string, text: string): void {
  const foreign = importsOf(text).filter((s) => !ALLOWED.has(packageOf(s)));
  if (foreign.length > 0) {
    throw new Error(
      `${path.relative(root, file)} imports ${foreign.join(', ')}: the client may import only ${[...ALLOWED].join(', ')}`,
    );
  }
}

rmSync(scratch, { recursive: true, force: true });
rmSync(out, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.client.json'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);

writeFileSync(
  path.join(scratch, 'trpc/context.d.ts'),
  "// The request context is the server's own: callers see none of it.\n" +
    'export interface Services {}\nexport interface Context extends Services {}\n',
);
writeFileSync(
  path.join(scratch, 'tsconfig.json'),
  JSON.stringify({
    compilerOptions: {
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      target: 'ES2022',
      strict: true,
      skipLibCheck: true,
      types: [],
    },
    files: ['client.d.ts'],
  }),
);
const [declarations] = generateDtsBundle(
  [
    {
      filePath: path.join(scratch, 'client.d.ts'),
      output: { noBanner: true, exportReferencedTypes: false },
    },
  ],
  { preferredConfigPath: path.join(scratch, 'tsconfig.json') },
);
if (declarations === undefined) throw new Error('dts-bundle-generator produced no bundle');

mkdirSync(out, { recursive: true });
for (const file of ['client.js', 'client-batch-link.js']) {
  const text = readFileSync(path.join(scratch, file), 'utf8');
  refuseForeignImports(path.join(out, file), text);
  writeFileSync(path.join(out, file), text);
}
refuseForeignImports(path.join(out, 'client.d.ts'), declarations);
writeFileSync(path.join(out, 'client.d.ts'), declarations);

const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Manifest;
const rangeOf = (name: string) => {
  const range = manifest.dependencies[name];
  if (range === undefined) throw new Error(`package.json has no dependency ${name}`);
  return range;
};
const published = {
  name: 'authz-service',
  version: manifest.version,
  description:
    'The typed tRPC client of the authz service (resource/permission pairs checked at compile time)',
  type: 'module',
  ...(manifest.license !== undefined ? { license: manifest.license } : {}),
  sideEffects: false,
  exports: {
    './client': { types: './client.d.ts', default: './client.js' },
    './package.json': './package.json',
  },
  files: ['client.js', 'client-batch-link.js', 'client.d.ts'],
  dependencies: Object.fromEntries(RUNTIME_DEPENDENCIES.map((name) => [name, rangeOf(name)])),
  peerDependencies: Object.fromEntries(PEER_DEPENDENCIES.map((name) => [name, rangeOf(name)])),
  ...(manifest.engines !== undefined ? { engines: manifest.engines } : {}),
};
writeFileSync(path.join(out, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);
copyFileSync(path.join(root, 'docs/client.md'), path.join(out, 'README.md'));
rmSync(scratch, { recursive: true, force: true });
process.stdout.write(
  `dist/client: ${published.name}@${published.version} (${declarations.length} bytes of declarations)\n`,
);
