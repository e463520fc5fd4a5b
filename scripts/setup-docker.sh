#!/usr/bin/env bash
# Makes this Debian machine ready for localhost fleets: installs Docker and debootstrap from
# Debian's packages when missing, starts dockerd when no engine answers, and builds the
# debian:bookworm base image without a registry when it cannot be pulled. Runs as root, or
# through sudo for the steps that need it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi

missing=()
# Both live in /usr/sbin, which a non-root user's PATH may not hold.
PATH="$PATH:/usr/sbin:/sbin"
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! $SUDO docker info >/dev/null 2>&1; then
  log=/var/log/fieldtest-dockerd.log
  echo "starting dockerd (log: $log)"
  $SUDO sh -c "nohup dockerd >'$log' 2>&1 &"
  for _ in $(seq 1 120); do
    $SUDO docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  $SUDO docker info >/dev/null 2>&1 || { $SUDO tail -n 30 "$log" >&2; echo "dockerd did not start" >&2; exit 1; }
fi

# sudo drops the environment: hand on the script's own settings.
$SUDO env FORCE="${FORCE:-}" MIRROR="${MIRROR:-}" IMAGE="${IMAGE:-}" bash "$here/build-base-image.sh"
