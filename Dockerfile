# syntax=docker/dockerfile:1
# Two stages: build with the current Node LTS and its toolchain; run on distroless Node 24 (no shell, no
# package manager) as a numeric non-root user, with only production dependencies and the built output.
# Build: docker build -t REGISTRY/exporter-injector:TAG .

FROM node:24-bookworm-slim AS build
WORKDIR /src
# Dependencies first, so editing sources does not re-run npm ci.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/ scripts/
COPY src/ src/
# build = tsc into dist/ plus the built-in templates (scripts/copy-assets.mjs); then drop devDependencies.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
# The image's "nonroot" user, numeric so the kubelet can verify runAsNonRoot.
USER 65532:65532
# 8443: the webhook (HTTPS); 8080: /healthz, /readyz, /metrics.
EXPOSE 8443 8080
# --max-semi-space-size=8 (MiB) pins V8's young generation, which node otherwise sizes from the memory
# it sees: 1 MiB semi-spaces under the Deployment's 256 MiB limit (with 8: 14-24% less CPU per review),
# 16-64 MiB on a large machine (there, a full mark-compact after nearly every young collection under a
# stream of large pods). docs/performance.md, eighth round. npm run bench reads the flags from this line.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=8", "dist/src/cli/main.js"]
CMD ["serve"]
