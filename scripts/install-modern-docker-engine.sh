#!/usr/bin/env bash
# Download (not install) a modern Docker engine from Debian trixie into DIR, for the docker-marked tests that
# bookworm's docker.io 20.10 cannot serve: CDI (dockerd >= 25) and bit-reproducible `docker buildx` builds
# (BuildKit >= 0.13, containerd image store). Recipe: shared/reference/docker.md A2.
#
# usage: scripts/install-modern-docker-engine.sh DIR
#
# The trixie debs (docker.io, docker-cli, docker-buildx, containerd) are fetched with a private apt state under
# DIR/apt (the system's apt lists and sources are neither read nor changed) and unpacked with `dpkg-deb -x` into
# DIR/root. DIR/bin then holds the programs on one PATH directory: trixie's dockerd, containerd,
# containerd-shim-runc-v2 and docker CLI, and bookworm's /usr/sbin/runc (trixie's runc needs GLIBC_2.38).
# DIR/docker-config/cli-plugins/docker-buildx makes buildx a CLI plugin (DOCKER_CONFIG=DIR/docker-config).
# Needs only the Debian mirror (and, for runc, bookworm's runc package: scripts/install-docker-engine.sh).
# Idempotent: a complete DIR (DIR/.complete) is left as it is. Starts nothing: scripts/docker-engine.sh does,
# with DOCKERD_ROOT=DIR. Exit codes: 0 ok; 1 download, unpack or check failed (the message says which); 2 usage.
set -euo pipefail

DIR="${1:-}"
[ -n "$DIR" ] || { echo "usage: $0 DIR" >&2; exit 2; }
MIRROR="${GPUCHECK_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=(docker.io docker-cli docker-buildx containerd)
RUNC="${GPUCHECK_RUNC:-/usr/sbin/runc}"

fail() { echo "install-modern-docker-engine.sh: $*" >&2; exit 1; }

if [ -f "$DIR/.complete" ] && "$DIR/bin/dockerd" --version >/dev/null 2>&1; then
    echo "modern Docker engine already in $DIR: $("$DIR/bin/dockerd" --version)"
    exit 0
fi
command -v apt-get >/dev/null || fail "apt-get is missing (a Debian-based machine is needed)"
command -v dpkg-deb >/dev/null || fail "dpkg-deb is missing"
[ -x "$RUNC" ] || fail "$RUNC is missing: install bookworm's runc (scripts/install-docker-engine.sh or apt-get install runc)"

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
APT="$DIR/apt"
rm -rf "$DIR/root" "$DIR/bin" "$DIR/docker-config" "$DIR/.complete"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/debs" "$DIR/root" "$DIR/bin"
echo "deb $MIRROR trixie main" > "$APT/sources.list"
OPTS=(-o "Dir::State::Lists=$APT/lists" -o "Dir::Etc::SourceList=$APT/sources.list"
      -o "Dir::Etc::SourceParts=/dev/null" -o "Dir::Cache=$APT/cache" -o "Debug::NoLocking=1")

echo "== downloading trixie's ${PACKAGES[*]} from $MIRROR"
apt-get "${OPTS[@]}" -q update >"$APT/update.log" 2>&1 \
    || { tail -n 5 "$APT/update.log" >&2; fail "apt-get update of trixie ($MIRROR) failed; see $APT/update.log"; }
rm -f "$APT/debs/"*.deb
(cd "$APT/debs" && apt-get "${OPTS[@]}" -q download "${PACKAGES[@]}") >"$APT/download.log" 2>&1 \
    || { tail -n 5 "$APT/download.log" >&2; fail "apt-get download ${PACKAGES[*]} failed; see $APT/download.log"; }

for deb in "$APT/debs/"*.deb; do
    dpkg-deb -x "$deb" "$DIR/root" || fail "dpkg-deb -x $deb failed"
done

# One PATH directory: dockerd finds containerd, the shim and runc through PATH.
link() { [ -x "$1" ] || fail "$1 is missing after unpacking"; ln -sf "$1" "$DIR/bin/$2"; }
link "$DIR/root/usr/sbin/dockerd" dockerd
link "$DIR/root/usr/bin/containerd" containerd
link "$DIR/root/usr/bin/containerd-shim-runc-v2" containerd-shim-runc-v2
link "$DIR/root/usr/bin/docker" docker
link "$RUNC" runc
[ -x "$DIR/root/usr/sbin/docker-proxy" ] && ln -sf "$DIR/root/usr/sbin/docker-proxy" "$DIR/bin/docker-proxy"
[ -x "$DIR/root/usr/bin/docker-init" ] && ln -sf "$DIR/root/usr/bin/docker-init" "$DIR/bin/docker-init"
mkdir -p "$DIR/docker-config/cli-plugins"
BUILDX="$DIR/root/usr/libexec/docker/cli-plugins/docker-buildx"
[ -x "$BUILDX" ] || fail "$BUILDX is missing after unpacking docker-buildx"
ln -sf "$BUILDX" "$DIR/docker-config/cli-plugins/docker-buildx"

# The binaries must run on this machine's glibc (trixie's runc would not: that is why bookworm's is linked).
"$DIR/bin/dockerd" --version || fail "trixie's dockerd does not run here"
"$DIR/bin/containerd" --version || fail "trixie's containerd does not run here"
DOCKER_CONFIG="$DIR/docker-config" "$DIR/bin/docker" buildx version || fail "docker buildx does not run here"
touch "$DIR/.complete"
echo "modern Docker engine ready in $DIR (scripts/docker-engine.sh start with DOCKERD_ROOT=$DIR)"
