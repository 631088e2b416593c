#!/usr/bin/env bash
# Makes the base image the Dockerfile starts FROM available to podman where no registry is reachable:
# when it is missing, builds a minimal Debian 12 root file system with debootstrap from the mirror apt
# is configured with (read from apt's sources), and imports it under that name. Where a registry is
# reachable, `podman pull debian:bookworm-slim` (or `docker pull`) does the same job.
# Usage: deploy/image/base-image.sh [IMAGE]   (needs root, debootstrap and podman)
set -euo pipefail
image="${1:-docker.io/library/debian:bookworm-slim}"

if podman image exists "$image"; then
  echo "base image $image: present"
  exit 0
fi

# The first URI apt uses for a suite (deb822 .sources files or one-line sources.list entries).
apt_uri() {
  local suite="$1"
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    # One stanza per blank-line-separated block: URIs and Suites lines of the same stanza.
    awk -v suite="$suite" '
      BEGIN { RS=""; FS="\n" }
      {
        uris=""; suites=""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { uris=$i; sub(/^URIs:[ \t]*/, "", uris) }
          if ($i ~ /^Suites:/) { suites=" " $i " "; sub(/^Suites:/, "", suites) }
        }
        if (uris != "" && index(suites, " " suite " ") > 0) { split(uris, u, " "); print u[1]; exit }
      }' "$file"
  done
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    awk -v suite="$suite" '$1 == "deb" { n = 2; if ($2 ~ /^\[/) { while ($n !~ /\]$/) n++; n++ } if ($(n+1) == suite) { print $n; exit } }' "$file"
  done
}

mirror="$(apt_uri bookworm | head -n1)"
security="$(apt_uri bookworm-security | head -n1)"
if [ -z "$mirror" ]; then
  echo "no bookworm mirror in apt's sources (/etc/apt/sources.list, /etc/apt/sources.list.d)" >&2
  exit 1
fi
echo "base image $image: building with debootstrap from $mirror"

rootfs="$(mktemp -d /var/tmp/scangate-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase bookworm "$rootfs" "$mirror"
{
  echo "deb $mirror bookworm main"
  echo "deb $mirror bookworm-updates main"
  [ -n "$security" ] && echo "deb $security bookworm-security main"
} > "$rootfs/etc/apt/sources.list"
# Like the official slim image: no apt caches, no docs.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import --change 'CMD ["bash"]' - "$image"
echo "base image $image: imported"
