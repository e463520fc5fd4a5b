#!/usr/bin/env bash
# Makes this Debian machine ready for localhost fleets: installs Docker and debootstrap from
# Debian's packages when missing, starts dockerd when no engine answers, and builds the
# debian:bookworm base image without a registry when it cannot be pulled. Run as root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log=/var/log/fieldtest-dockerd.log
  echo "starting dockerd (log: $log)"
  nohup dockerd >"$log" 2>&1 &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -n 30 "$log" >&2; echo "dockerd did not start" >&2; exit 1; }
fi

"$here/build-base-image.sh"
