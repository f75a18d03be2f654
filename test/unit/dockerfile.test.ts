import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** No container engine runs here: the Dockerfile is checked for its structure. */
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(`${repoRoot}/${file}`, 'utf8');

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const runtime = stages.at(-1) ?? '';
  const build = stages.find((stage) => /^\S+ AS build$/m.test(stage)) ?? '';
  const pkg = JSON.parse(read('package.json')) as {
    scripts: Record<string, string>;
    dependencies: Record<string, string>;
    engines: { node: string };
  };

  it('is multi-stage: tsc and vite run in a build stage, their output is copied into the runtime', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build).toMatch(/RUN npm run build && npm run build:web/);
    expect(build).toMatch(/COPY tsconfig\.json tsconfig\.build\.json/);
    expect(runtime).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
    expect(runtime).toMatch(/COPY --from=build \/app\/web\/dist \.\/web\/dist/);
    expect(runtime).toMatch(/npm ci --omit=dev/);
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
  });

  it('runs compiled JavaScript with node itself: no tsx, no sources, no npm wrapper', () => {
    expect(runtime).toMatch(/^CMD \["node", "dist\/main\.js"\]$/m);
    expect(runtime).not.toMatch(/tsx/);
    expect(runtime).not.toMatch(/COPY src /);
    // The runtime installs production dependencies only: tsx must not be one of them.
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
    // schema.zed is read from beside dist/ (../schema.zed from dist/spicedb/).
    expect(runtime).toMatch(/^COPY schema\.zed \.\/$/m);
  });

  it('pins a current Node LTS (22 or 24) as its base, matching engines, and runs as non-root', () => {
    const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1] ?? '';
    const major = Number(/^node:(\d+)\.\d+/.exec(base)?.[1]);
    expect([22, 24]).toContain(major);
    expect(base).toMatch(/-slim$/);
    expect(pkg.engines.node).toContain(`>=${major}`);
    const user = /^USER (\S+)$/m.exec(runtime)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    // USER comes before the command, so the service never runs as root.
    expect(runtime.indexOf('USER ')).toBeLessThan(runtime.indexOf('CMD '));
  });

  it('keeps node_modules, build output and secrets out of the build context', () => {
    const ignored = read('.dockerignore').split('\n');
    expect(ignored).toEqual(
      expect.arrayContaining(['node_modules', '.git', '.env', 'web/dist', 'dist']),
    );
  });
});
