# syntax=docker/dockerfile:1
# task-api: build with the development dependencies, run with the production ones only.
# Debian trixie: its postgresql-client is 17, the version of the embedded and the compose PostgreSQL,
# so db:backup and db:restore work inside the container.

FROM node:22-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Only the TypeScript compiler runs in this stage: no install script is needed.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:22-trixie-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends postgresql-client \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8000
COPY package.json package-lock.json ./
# The embedded-postgres platform package's install script must run (it links the PostgreSQL libraries);
# it is the only production dependency with one.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
# The application's files stay root's; the node user writes only its data and backups.
RUN mkdir -p data backups && chown node:node data backups
USER node
# The embedded database and generated secrets, when DATABASE_URL is not set.
VOLUME ["/app/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, node itself as PID 1: SIGTERM reaches the server, which shuts down gracefully. No npm (and its prestart build).
CMD ["node", "dist/server.js"]
