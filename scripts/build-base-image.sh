#!/usr/bin/env bash
# Builds the debian:bookworm base image without an image registry: debootstrap a minimal
# bookworm into a scratch folder and `docker import` it. Air-gapped machines that can still
# reach a Debian mirror (or a local apt proxy) use this instead of `docker pull`.
#
#   scripts/build-base-image.sh            # builds debian:bookworm if it is missing
#   FORCE=1 scripts/build-base-image.sh    # rebuilds it
#   MIRROR=http://my-mirror/debian scripts/build-base-image.sh
set -euo pipefail

image="${IMAGE:-debian:bookworm}"
mirror="${MIRROR:-http://deb.debian.org/debian}"

if [ -z "${FORCE:-}" ] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image is present"
  exit 0
fi

if [ -z "${FORCE:-}" ] && timeout 30 docker pull -q "$image" >/dev/null 2>&1; then
  echo "base image $image pulled from the registry"
  exit 0
fi

command -v debootstrap >/dev/null || {
  echo "debootstrap is missing: apt-get install -y debootstrap" >&2
  exit 1
}

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT

echo "no registry: bootstrapping $image from $mirror (a few minutes)"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  tail -n 30 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  exit 1
}
rm -f "$rootfs.log"

# Trim what a container never uses and make apt behave like the official image.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
  >"$rootfs/etc/apt/apt.conf.d/99fieldtest-minimal"

tar -C "$rootfs" -c . | docker import \
  --change 'CMD ["bash"]' \
  --change 'ENV LANG=C.UTF-8' \
  - "$image" >/dev/null
echo "built $image with debootstrap"
