import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The access-explorer page: `npm run build:web` writes web/dist, which the service serves at
// / and /explorer. During `vite dev` the page calls the service on AUTHZ_URL through a proxy.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
  },
  server: {
    proxy: {
      '/trpc': process.env.AUTHZ_URL ?? 'http://127.0.0.1:3000',
      '/dev': process.env.AUTHZ_URL ?? 'http://127.0.0.1:3000',
    },
  },
});
