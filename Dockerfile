# syntax=docker/dockerfile:1
# The authz service: built in stages, run as the unprivileged `node` user.
ARG NODE_IMAGE=node:20.19-bookworm-slim

# 1. Every dependency, for building the access-explorer page.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# 2. The page: vite build into web/dist.
FROM deps AS build
COPY tsconfig.json schema.zed ./
COPY src ./src
COPY web ./web
RUN npm run build:web

# 3. The runtime: production dependencies, the sources (run by tsx), the built page.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# Owned by root and read-only to the service user: the process cannot rewrite its own code.
COPY schema.zed ./
COPY src ./src
COPY bin ./bin
COPY scripts ./scripts
COPY --from=build /app/web/dist ./web/dist
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:3000/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--import", "tsx", "src/main.ts"]
