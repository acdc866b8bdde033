#!/usr/bin/env bash
# Install Debian's Docker engine for gpucheck's docker-marked tests, plus what the tests assemble their
# offline stand-in base images from (tests/docker_engine.py, tests/images/standin.py): busybox-static,
# Debian's CPython 3.11 and passwd (useradd). Needs root and the Debian mirror; starts nothing (policy-rc.d and the
# absence of systemd keep the service down; scripts/docker-engine.sh starts a private engine).
# Debian bookworm has no docker-buildx package, so `gpucheck image build --reproducible` reports buildx as
# missing on such a machine; see shared/reference/docker.md A2/A3.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
    echo "install-docker-engine.sh needs root (apt-get install)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends docker.io busybox-static \
    python3.11-minimal libpython3.11-stdlib passwd
command -v dockerd >/dev/null
