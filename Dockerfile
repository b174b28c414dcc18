# syntax=docker/dockerfile:1
# LLM-Sentinel: `sentinel serve` in a small, non-root image with a read-only root filesystem.
#   docker build -t llm-sentinel .
#   docker run --read-only --tmpfs /tmp -v sentinel-data:/var/lib/sentinel -p 7300:7300 llm-sentinel
# Node 24 runs the TypeScript sources directly (type stripping); only production dependencies are installed.

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/core/package.json packages/core/
COPY packages/detectors/package.json packages/detectors/
COPY packages/adapters/package.json packages/adapters/
COPY packages/server/package.json packages/server/
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
      --workspace packages/core --workspace packages/detectors \
      --workspace packages/adapters --workspace packages/server \
    && npm cache clean --force

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json ./
COPY --chown=root:root packages/core/package.json packages/core/
COPY --chown=root:root packages/core/src packages/core/src
COPY --chown=root:root packages/detectors/package.json packages/detectors/
COPY --chown=root:root packages/detectors/src packages/detectors/src
COPY --chown=root:root packages/adapters/package.json packages/adapters/
COPY --chown=root:root packages/adapters/src packages/adapters/src
COPY --chown=root:root packages/server/package.json packages/server/
COPY --chown=root:root packages/server/src packages/server/src
COPY --chown=root:root packages/server/dashboard packages/server/dashboard
COPY --chown=root:root deploy/sentinel.yaml /etc/sentinel/sentinel.yaml
# The only writable place: the data directory (a volume); the code belongs to root and is read-only for the
# `node` user (uid 1000) that runs the server.
RUN mkdir -p /var/lib/sentinel && chown node:node /var/lib/sentinel
VOLUME ["/var/lib/sentinel"]
USER node
EXPOSE 7300
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:7300/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "packages/server/src/bin.ts"]
CMD ["serve", "--config", "/etc/sentinel/sentinel.yaml"]
