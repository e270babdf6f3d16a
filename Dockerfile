# syntax=docker/dockerfile:1
#
# prepull's image: the admission webhook and reconciler (Node.js), plus the static no-op binary
# that the pre-pull DaemonSets copy into their pods (/usr/local/bin/prepull-sleep).
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/prepull/prepull:0.1.0 .
#
# The Node stages run on the build machine's platform (BUILDPLATFORM): the output is platform
# independent JavaScript, and production dependencies have no native addons. Go cross-compiles
# the sleeper for each TARGETARCH, so no emulation is needed.

ARG NODE_VERSION=24
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; no install scripts run (none are needed at runtime).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS sleeper
ARG TARGETOS=linux
ARG TARGETARCH
WORKDIR /src
COPY cmd/prepull-sleep ./
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/prepull-sleep .

# Distroless: Node.js and nothing else (no shell, no package manager); the nonroot variant runs
# as uid 65532, which the chart's securityContext also sets.
FROM gcr.io/distroless/nodejs24-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="prepull" \
      org.opencontainers.image.description="Kubernetes admission webhook that pre-pulls the images of opted-in workloads onto every node they could run on" \
      org.opencontainers.image.source="https://github.com/prepull/prepull" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
WORKDIR /app
COPY --from=deps /app/package.json ./package.json
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=sleeper /out/prepull-sleep /usr/local/bin/prepull-sleep
ENV NODE_ENV=production
USER 65532:65532
# 8443: /mutate, /healthz, /readyz; 8444: /metrics (METRICS_PORT).
EXPOSE 8443 8444
# The helm test pod runs /nodejs/bin/node from this image with a script of its own.
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/main.js"]
