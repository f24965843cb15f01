# syntax=docker/dockerfile:1
# One image for the API, the worker and the scripted model; docker-compose.yml picks the process
# with `command`. The processes run from TypeScript through tsx, as the package scripts do: the
# worker bundles the workflow code from src/workflows at start-up, so the sources stay in the image.

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# tsx is a runtime dependency; the dev dependencies (tsc, vitest, types) are not needed here.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig*.json ./
COPY src ./src
COPY agents ./agents
# The demo agent's tool pack; the compose file's worker loads it with BOSUN_TOOL_MODULES. Your own
# tool modules go beside it (mounted or copied under /app, so `bosun/tools` resolves to this package).
COPY examples/support-tools ./examples/support-tools
# The official image's unprivileged user (uid 1000); the files above stay root-owned and read-only to it.
USER node
EXPOSE 8080
CMD ["npm", "run", "api"]
