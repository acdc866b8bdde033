#!/usr/bin/env bash
# Start, stop or query a private Docker engine for gpucheck's docker-marked tests.
#
# usage: scripts/docker-engine.sh start|stop|status [DIR]
#
# DIR (default $GPUCHECK_DOCKER_DIR or /tmp/gpucheck-dockerd) holds everything the engine owns: socket, pid
# file, log, daemon.json, data-root and exec-root. Nothing outside it is touched except /etc/docker/key.json,
# which dockerd 20.10 writes unconditionally; `stop` removes it when this script's `start` created it.
# Flags follow shared/reference/docker.md A1: no bridge network and no iptables (the test machines have no
# bridge support to rely on; builds that need the network use network_mode=host), overlay2 storage with a
# vfs fallback. This script installs nothing: scripts/install-docker-engine.sh does.
#
# DOCKERD_ROOT=ROOT runs the modern engine that scripts/install-modern-docker-engine.sh ROOT unpacked (trixie's
# dockerd 26 and containerd, bookworm's runc): ROOT/bin goes first on PATH, so dockerd finds its containerd, shim
# and runc there. Its features (CDI, containerd image store) come from DIR/daemon.json, written before `start`.
#
# `start` prints DOCKER_HOST=unix://DIR/docker.sock on success. Exit codes: 0 ok; 1 not running (status) or
# failed to start/stop; 3 dockerd is not installed.
set -uo pipefail

ACTION="${1:-}"
DIR="${2:-${GPUCHECK_DOCKER_DIR:-/tmp/gpucheck-dockerd}}"
SOCK="$DIR/docker.sock"
PIDFILE="$DIR/dockerd.pid"
LOG="$DIR/dockerd.log"
KEYMARK="$DIR/created-key-json"
START_TIMEOUT_S="${GPUCHECK_DOCKER_START_TIMEOUT:-60}"

usage() { echo "usage: $0 start|stop|status [DIR]" >&2; exit 2; }

# True when the engine behind $SOCK answers its /_ping endpoint.
answers() {
    [ -S "$SOCK" ] || return 1
    if command -v curl >/dev/null 2>&1; then
        [ "$(curl -s --max-time 2 --unix-socket "$SOCK" http://localhost/_ping 2>/dev/null)" = "OK" ]
    else
        python3 - "$SOCK" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2)
try:
    s.connect(sys.argv[1]); s.sendall(b"GET /_ping HTTP/1.0\r\nHost: x\r\n\r\n")
    sys.exit(0 if s.recv(4096).rstrip().endswith(b"OK") else 1)
except OSError:
    sys.exit(1)
EOF
    fi
}

pid_alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# dockerd bind-mounts its data-root and leaves netns mounts behind; unmount everything under DIR, deepest first.
unmount_all() {
    awk -v d="$DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
}

launch() {
    local driver="$1"
    mkdir -p "$DIR/data" "$DIR/exec"
    [ -f "$DIR/daemon.json" ] || echo '{}' > "$DIR/daemon.json"
    setsid dockerd --config-file "$DIR/daemon.json" -H "unix://$SOCK" \
        --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$PIDFILE" \
        --storage-driver="$driver" --iptables=false --ip-masq=false --bridge=none \
        >"$LOG" 2>&1 </dev/null &
    local waited=0
    while [ "$waited" -lt $((START_TIMEOUT_S * 10)) ]; do
        answers && return 0
        # dockerd exited (bad flag, unsupported storage driver): stop waiting.
        if ! kill -0 $! 2>/dev/null; then return 1; fi
        sleep 0.1
        waited=$((waited + 1))
    done
    return 1
}

start() {
    if [ -n "${DOCKERD_ROOT:-}" ]; then
        if [ ! -x "$DOCKERD_ROOT/bin/dockerd" ]; then
            echo "DOCKERD_ROOT=$DOCKERD_ROOT has no bin/dockerd: run scripts/install-modern-docker-engine.sh $DOCKERD_ROOT" >&2
            exit 3
        fi
        export PATH="$DOCKERD_ROOT/bin:$PATH"
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        echo "dockerd is not installed: run scripts/install-docker-engine.sh (apt-get install docker.io)" >&2
        exit 3
    fi
    if answers; then echo "DOCKER_HOST=unix://$SOCK"; return 0; fi
    if [ "$(id -u)" != 0 ]; then
        echo "dockerd needs root here (no rootless setup): rerun as root" >&2
        exit 1
    fi
    [ -e /etc/docker/key.json ] || { mkdir -p "$DIR"; touch "$KEYMARK"; }
    local driver="${GPUCHECK_DOCKER_STORAGE_DRIVER:-overlay2}"
    if ! launch "$driver"; then
        echo "dockerd did not start with storage driver $driver; last log lines:" >&2
        tail -n 5 "$LOG" >&2
        stop_engine >/dev/null 2>&1
        if [ "$driver" = overlay2 ] && [ -z "${GPUCHECK_DOCKER_STORAGE_DRIVER:-}" ]; then
            echo "retrying with the vfs storage driver" >&2
            [ -e /etc/docker/key.json ] || touch "$KEYMARK"
            launch vfs || { echo "dockerd did not start (vfs either); see $LOG" >&2; tail -n 5 "$LOG" >&2; exit 1; }
        else
            exit 1
        fi
    fi
    echo "DOCKER_HOST=unix://$SOCK"
}

stop_engine() {
    if pid_alive; then
        local pid; pid="$(cat "$PIDFILE")"
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "dockerd $pid ignored SIGTERM for 20 s; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
            sleep 0.5
        fi
    fi
    [ -d "$DIR" ] || return 0
    unmount_all
    if [ -f "$KEYMARK" ]; then rm -f /etc/docker/key.json; fi
    rm -rf "$DIR" 2>/dev/null || { echo "could not remove $DIR completely (still mounted?)" >&2; return 1; }
}

case "$ACTION" in
    start) start ;;
    stop) stop_engine ;;
    status)
        if answers; then echo "running: DOCKER_HOST=unix://$SOCK"; exit 0; fi
        echo "not running (no engine answers on $SOCK)"; exit 1 ;;
    *) usage ;;
esac
