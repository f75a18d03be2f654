# syntax=docker/dockerfile:1
# The authz service: compiled in a build stage, run as compiled JavaScript by the unprivileged
# `node` user on the current Node LTS (development keeps tsx; production needs no compiler).
ARG NODE_IMAGE=node:24.11-bookworm-slim

# 1. Every dependency, for compiling the service and building the access-explorer page.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# 2. tsc into dist/ (npm run build), vite into web/dist (npm run build:web).
FROM deps AS build
COPY tsconfig.json tsconfig.build.json schema.zed ./
COPY src ./src
COPY web ./web
RUN npm run build && npm run build:web

# 3. The runtime: production dependencies only, the compiled service, the built page.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# Owned by root and read-only to the service user: the process cannot rewrite its own code.
COPY schema.zed ./
COPY bin ./bin
COPY --from=build /app/dist ./dist
COPY --from=build /app/web/dist ./web/dist
USER node
EXPOSE 3000
# main.js drains in-flight requests on SIGTERM; node is PID 1's only process (no npm, no shell).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:3000/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
