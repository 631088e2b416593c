#!/usr/bin/env bash
# Builds the scangate image with podman (no Docker engine needed): makes sure the base image exists
# (deploy/image/base-image.sh), then builds with this machine's npm registry, its CA bundle (a build
# secret, not kept in the image) and the proxy variables of the environment (podman passes
# HTTP_PROXY, HTTPS_PROXY and NO_PROXY to the build by default).
# Usage: deploy/image/build.sh [TAG]   (default localhost/scangate:latest)
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:-localhost/scangate:latest}"

bash deploy/image/base-image.sh

registry="$(npm config get registry 2>/dev/null || true)"
[ -n "$registry" ] || registry=https://registry.npmjs.org/
cafile="$(npm config get cafile 2>/dev/null || true)"
{ [ -n "$cafile" ] && [ "$cafile" != null ] && [ -f "$cafile" ]; } || cafile=/etc/ssl/certs/ca-certificates.crt

args=(--runtime runc --format docker --network host -t "$tag"
  --build-arg "NPM_CONFIG_REGISTRY=$registry" --secret "id=npm_ca,src=$cafile")
# Hosts this machine resolves through /etc/hosts (a registry or package mirror) resolve the same
# way inside the build.
apt_hosts="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -oE 'https?://[^/ ]+' | sed -E 's#^[a-z]+://##; s#:.*##' | sort -u || true)"
for host in "$(echo "$registry" | sed -E 's#^[a-z]+://([^/:]+).*#\1#')" $apt_hosts; do
  address="$(awk -v host="$host" '$1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == host) { print $1; exit } }' /etc/hosts)"
  if [ -n "$address" ]; then args+=(--add-host "$host:$address"); fi
done
podman build "${args[@]}" .
