# scangate: the service, clamd and freshclam in one image. Signatures and data live in the volume
# /var/lib/scangate; scangate runs freshclam itself (SIGNATURES=freshclam) and RELOADs clamd after
# each update. Build: `podman build --format docker -t scangate .` (or `docker build -t scangate .`);
# deploy/image/build.sh does it where only a private npm registry or mirror is reachable.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# --- build: production dependencies, including the pinned Node 24 (the `node` npm package) ---
FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# The registry (and, through the optional `npm_ca` build secret, the CA that signs it) of the machine
# that builds; nothing of either stays in the image.
ARG NPM_CONFIG_REGISTRY=https://registry.npmjs.org/
RUN --mount=type=secret,id=npm_ca,required=false \
    if [ -f /run/secrets/npm_ca ]; then export NPM_CONFIG_CAFILE=/run/secrets/npm_ca; fi \
 && npm install --omit=dev --no-audit --no-fund --no-update-notifier \
 && node_modules/.bin/node --version | grep -q '^v24\.' \
 && rm -rf /root/.npm

# --- compile: the TypeScript sources to JavaScript in dist/ (npm run build), with the dev dependencies
# (the compiler) that the runtime image does not carry ---
FROM build AS compile
RUN --mount=type=secret,id=npm_ca,required=false \
    if [ -f /run/secrets/npm_ca ]; then export NPM_CONFIG_CAFILE=/run/secrets/npm_ca; fi \
 && npm install --no-audit --no-fund --no-update-notifier \
 && rm -rf /root/.npm
COPY tsconfig.json ./
COPY bin ./bin
COPY scripts/build.ts ./scripts/build.ts
COPY src ./src
COPY packages/client/src ./packages/client/src
RUN node_modules/.bin/node scripts/build.ts

# --- runtime ---
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      clamav clamav-daemon clamav-freshclam tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/lib/clamav/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/scangate --create-home scangate \
 && chown scangate:scangate /var/lib/clamav
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
# Compiled JavaScript only: the service, and the CLI's client (`scangate scan`), which dist/'s own
# package.json resolves as scangate/client.
COPY --from=compile /app/dist ./dist
ENV NODE_ENV=production \
    SCANGATE_DATA_DIR=/var/lib/scangate \
    HOST=0.0.0.0 \
    PORT=8080 \
    PATH=/app/node_modules/.bin:/usr/sbin:/usr/bin:/sbin:/bin
# SQLite, staged uploads, the managed clamd's socket and temp files, and freshclam's database.
VOLUME /var/lib/scangate
USER scangate
EXPOSE 8080
# Ready means: clamd answers, a database younger than MAX_SIGNATURE_AGE is loaded, EICAR is found.
# The first freshclam download takes minutes, hence the long start period.
HEALTHCHECK --interval=30s --timeout=15s --start-period=15m --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tini is PID 1: it forwards SIGTERM to scangate, which drains running jobs (SHUTDOWN_GRACE_MS),
# stops freshclam and clamd, and exits 0; it also reaps whatever clamd or freshclam leave behind.
# --max-semi-space-size=2 (MiB): V8's young generation otherwise grows to tens of MiB during start-up
# and stays committed; at 2 MiB the idle service is ~25 MiB smaller at no measured cost in CPU per scan.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=2", "/app/dist/src/cli/main.js"]
CMD ["serve"]
