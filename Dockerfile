# syntax=docker/dockerfile:1
# One image for the API, the worker and the scripted model; docker-compose.yml picks the process
# with `command`. The processes run compiled JavaScript (npm run build: tsc's output in dist, the
# demo tool pack compiled, and the workflow bundle built ahead of time beside the worker), so no
# TypeScript is compiled and no webpack runs at start-up. `--conditions=bosun-compiled` makes a
# tool module's `bosun/tools` the compiled copy (package.json "exports").

# Build: every dependency (tsc, types), then npm run build.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY examples/support-tools ./examples/support-tools
RUN npm run build

# Runtime dependencies only. tsx stays one: tool modules of your own written in TypeScript load
# with `node --import tsx` (the image has no tsconfig that could alias `bosun/tools` to sources).
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
# The compiled code, the migrations and the prebuilt workflow bundle (with the record of its
# inputs, which the worker checks against the files here before it uses the bundle), and the demo
# agent's tool pack (dist/examples/support-tools), which the compose file's worker loads with
# BOSUN_TOOL_MODULES. Your own tool modules go under /app (mounted or copied), so `bosun/tools`
# resolves to this package.
COPY --from=build /app/dist ./dist
COPY agents ./agents
# The official image's unprivileged user (uid 1000); the files above stay root-owned and read-only to it.
USER node
EXPOSE 8080
CMD ["node", "--conditions=bosun-compiled", "dist/src/api/main.js"]
