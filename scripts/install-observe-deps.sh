#!/usr/bin/env bash
# Debian packages the observability tests and `--prometheus` need: a real Prometheus and
# promtool, the node exporter, Chromium for the browser test, openssl for the TLS test.
# Grafana has no Debian package and is not installed here (see observe/grafana/README.md).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
  prometheus prometheus-node-exporter chromium openssl
