#!/usr/bin/env bash
# A real Slurm cluster on this one host: Debian's slurm-wlm (slurmctld + slurmd) authenticated by munge.
#
# usage: scripts/slurm-cluster.sh install
#        scripts/slurm-cluster.sh start|stop|status [--dir DIR] [--nodes N] [--gres-gpus G] [--port P]
#                                                  [--partition NAME] [--cluster NAME] [--timeout S]
#
#   install        apt-get install slurm-wlm and munge (needs root and a Debian/Ubuntu mirror). Nothing else.
#   start          write DIR/slurm.conf (and DIR/gres.conf), start munged (unless one answers already),
#                  slurmctld and one slurmd per node, and wait until `sinfo` shows every node idle. Prints
#                  SLURM_CONF=DIR/slurm.conf: export it, then sbatch/srun/sinfo/scontrol talk to this cluster.
#   stop           stop the daemons this script started (munged only if it started it); DIR stays for the logs.
#   status         exit 0 when every node is idle or allocated, 1 otherwise.
#
# Options (the only things to change; the rest of slurm.conf is the minimal single-host setup):
#   --dir DIR        everything the cluster owns: slurm.conf, gres.conf, state, spool, pid and log files
#                    (default $GPUCHECK_SLURM_DIR or /var/tmp/gpucheck-slurm).
#   --nodes N        NodeName entries on this host, node1..nodeN, one slurmd each on its own port, to simulate
#                    a multi-node allocation (default 2). Needs a slurmd built with multiple-slurmd support, as
#                    Debian's is; with 1 the node is named after this host.
#   --gres-gpus G    declare G GRES gpus per node (Gres=gpu:G; gres.conf File=DIR/dev/<node>/nvidia[0-G-1],
#                    stand-in device nodes that behave as /dev/null, as Slurm drops a GPU without a File), so
#                    `sbatch --gres=gpu:1` schedules on a machine without GPUs and the job gets
#                    CUDA_VISIBLE_DEVICES / SLURM_JOB_GPUS as on a GPU node (default 0: no GRES). On a real
#                    GPU node, name the real /dev/nvidia* in gres.conf instead (or AutoDetect=nvml).
#   --port P         slurmctld listens on P, the slurmds on P+1..P+N (default 6817, Slurm's own).
#   --partition NAME the default partition holding every node (default debug).
#   --cluster NAME   ClusterName (default gpucheck).
#   --timeout S      how long `start` waits for the nodes to come up idle (default 90).
#
# Runs as root (SlurmUser=root, no cgroups: proctrack/linuxproc, task/none, no accounting database).
# Exit codes: 0 ok; 1 failed to start/stop, or not up (status); 2 usage; 3 Slurm or munge is not installed.
set -uo pipefail

ACTION="${1:-}"
[ $# -gt 0 ] && shift
DIR="${GPUCHECK_SLURM_DIR:-/var/tmp/gpucheck-slurm}"
NODES=2
GRES_GPUS=0
PORT=6817
PARTITION=debug
CLUSTER=gpucheck
TIMEOUT_S=90

usage() { sed -n '3,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "slurm-cluster: $*" >&2; exit 1; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_name() { [[ "$1" =~ ^[A-Za-z][A-Za-z0-9_-]{0,39}$ ]]; }

while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case "$1" in
        --dir) DIR="$2" ;;
        --nodes) NODES="$2" ;;
        --gres-gpus) GRES_GPUS="$2" ;;
        --port) PORT="$2" ;;
        --partition) PARTITION="$2" ;;
        --cluster) CLUSTER="$2" ;;
        --timeout) TIMEOUT_S="$2" ;;
        *) usage ;;
    esac
    shift 2
done
# Every value goes into slurm.conf: refuse anything but plain numbers, names and absolute paths.
is_uint "$NODES" && [ "$NODES" -ge 1 ] && [ "$NODES" -le 64 ] || { echo "--nodes: 1..64" >&2; exit 2; }
is_uint "$GRES_GPUS" && [ "$GRES_GPUS" -le 64 ] || { echo "--gres-gpus: 0..64" >&2; exit 2; }
is_uint "$PORT" && [ "$PORT" -ge 1024 ] && [ $((PORT + NODES)) -le 65535 ] || { echo "--port: 1024..65535" >&2; exit 2; }
is_uint "$TIMEOUT_S" || { echo "--timeout: seconds" >&2; exit 2; }
is_name "$PARTITION" || { echo "--partition: letters, digits, '_', '-'" >&2; exit 2; }
is_name "$CLUSTER" && [[ "$CLUSTER" =~ ^[a-z0-9_-]+$ ]] || { echo "--cluster: lowercase letters, digits, '_', '-'" >&2; exit 2; }
[[ "$DIR" =~ ^/[A-Za-z0-9._/+-]*$ ]] || { echo "--dir: an absolute path of letters, digits and ._/+-" >&2; exit 2; }

CONF="$DIR/slurm.conf"
export SLURM_CONF="$CONF"

need_root() { [ "$(id -u)" = 0 ] || die "$ACTION needs root"; }

installed() {
    local missing=()
    for exe in slurmctld slurmd sbatch sinfo scontrol munged; do
        command -v "$exe" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$exe" >/dev/null 2>&1 \
            || missing+=("$exe")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "slurm-cluster: not installed: ${missing[*]} (run: $0 install)" >&2
        exit 3
    fi
}

install() {
    need_root
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends slurm-wlm munge
}

node_names() {
    if [ "$NODES" = 1 ]; then hostname -s; else seq -f 'node%g' 1 "$NODES"; fi
}

write_conf() {
    local host cpus mem i name
    host="$(hostname -s)"
    cpus="$(nproc)"
    # NOTE: the nodes share this host: each is told a slice of it, and config_overrides lets slurmd accept
    # a node description smaller or larger than the hardware it finds.
    mem=$(( $(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo) / (NODES + 1) ))
    mkdir -p "$DIR/state" "$DIR/log"
    for name in $(node_names); do mkdir -p "$DIR/spool/$name"; done
    {
        echo "# Written by gpucheck scripts/slurm-cluster.sh: a single-host cluster of $NODES node(s)."
        echo "ClusterName=$CLUSTER"
        echo "SlurmctldHost=$host(127.0.0.1)"
        echo "SlurmctldPort=$PORT"
        echo "SlurmUser=root"
        echo "SlurmdUser=root"
        echo "AuthType=auth/munge"
        echo "CredType=cred/munge"
        echo "StateSaveLocation=$DIR/state"
        echo "SlurmdSpoolDir=$DIR/spool/%n"
        echo "SlurmctldPidFile=$DIR/slurmctld.pid"
        echo "SlurmdPidFile=$DIR/slurmd-%n.pid"
        echo "SlurmctldLogFile=$DIR/log/slurmctld.log"
        echo "SlurmdLogFile=$DIR/log/slurmd-%n.log"
        echo "SlurmdParameters=config_overrides"
        echo "ProctrackType=proctrack/linuxproc"
        echo "TaskPlugin=task/none"
        echo "JobAcctGatherType=jobacct_gather/none"
        echo "AccountingStorageType=accounting_storage/none"
        echo "MpiDefault=none"
        echo "SchedulerType=sched/backfill"
        echo "SelectType=select/cons_tres"
        echo "SelectTypeParameters=CR_Core"
        echo "ReturnToService=2"
        echo "SlurmdTimeout=60"
        echo "InactiveLimit=0"
        echo "KillWait=5"
        [ "$GRES_GPUS" -gt 0 ] && echo "GresTypes=gpu"
        i=0
        for name in $(node_names); do
            i=$((i + 1))
            printf 'NodeName=%s NodeHostname=%s NodeAddr=127.0.0.1 Port=%d CPUs=%d RealMemory=%d State=UNKNOWN' \
                "$name" "$host" $((PORT + i)) "$cpus" "$mem"
            [ "$GRES_GPUS" -gt 0 ] && printf ' Gres=gpu:%d' "$GRES_GPUS"
            echo
        done
        echo "PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES"
    } > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
    if [ "$GRES_GPUS" -gt 0 ]; then
        {
            echo "# Written by gpucheck scripts/slurm-cluster.sh: stand-in GPU device files (/dev/null clones)."
            for name in $(node_names); do
                mkdir -p "$DIR/dev/$name"
                for i in $(seq 0 $((GRES_GPUS - 1))); do
                    [ -e "$DIR/dev/$name/nvidia$i" ] || mknod "$DIR/dev/$name/nvidia$i" c 1 3 2>/dev/null \
                        || touch "$DIR/dev/$name/nvidia$i"
                done
                echo "NodeName=$name Name=gpu File=$DIR/dev/$name/nvidia[0-$((GRES_GPUS - 1))]"
            done
        } > "$DIR/gres.conf"
    else
        rm -f "$DIR/gres.conf"
    fi
}

munge_answers() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    munge_answers && return 0
    [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile /etc/munge/munge.key && chown munge:munge /etc/munge/munge.key; }
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    if id munge >/dev/null 2>&1; then
        runuser -u munge -- munged || return 1
    else
        munged --force || return 1
    fi
    touch "$DIR/started-munged"
    local waited=0
    until munge_answers; do
        [ "$waited" -ge 50 ] && return 1
        sleep 0.2; waited=$((waited + 1))
    done
}

pid_of() { [ -s "$1" ] && cat "$1"; }
alive() { local p; p="$(pid_of "$1")" && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

node_states() { sinfo -h -N -o '%N %t' 2>/dev/null; }

all_up() {
    local states
    states="$(node_states)" || return 1
    [ -n "$states" ] || return 1
    [ "$(echo "$states" | awk '$2 !~ /^(idle|alloc|mix)$/' | wc -l)" -eq 0 ]
}

show_logs() {
    for f in "$DIR"/log/*.log; do
        [ -f "$f" ] || continue
        echo "---- $f (last lines)" >&2
        tail -n 15 "$f" >&2
    done
}

start() {
    need_root
    installed
    mkdir -p "$DIR" || die "cannot create $DIR"
    if alive "$DIR/slurmctld.pid"; then
        all_up && { echo "SLURM_CONF=$CONF"; return 0; }
        die "a slurmctld from $DIR is running but not every node is up: $0 stop --dir $DIR"
    fi
    write_conf
    start_munge || die "munged did not start (see /var/log/munge/munged.log)"
    slurmctld -f "$CONF" -i || { show_logs; die "slurmctld did not start"; }
    for name in $(node_names); do
        slurmd -f "$CONF" -N "$name" || { show_logs; die "slurmd for $name did not start"; }
    done
    local waited=0
    until all_up; do
        if [ "$waited" -ge $((TIMEOUT_S * 2)) ]; then
            node_states >&2
            show_logs
            die "the nodes did not come up idle within ${TIMEOUT_S}s"
        fi
        if node_states | awk '$2 ~ /^inval/ { bad = 1 } END { exit !bad }'; then
            node_states >&2
            show_logs
            die "slurmctld refused a node's registration (state inval): see the log above"
        fi
        # A node that registered in state "down" (an earlier run's state, a slow first contact) is resumed.
        node_states | awk '$2 ~ /^(down|drain)/ { print $1 }' | while read -r n; do
            scontrol update NodeName="$n" State=RESUME >/dev/null 2>&1 || true
        done
        sleep 0.5; waited=$((waited + 1))
    done
    node_states >&2
    echo "SLURM_CONF=$CONF"
}

stop_pidfile() {
    local pid waited=0
    pid="$(pid_of "$1")" || return 0
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    rm -f "$1"
}

stop() {
    need_root
    local f
    if [ -f "$CONF" ] && command -v scancel >/dev/null 2>&1; then
        scancel --full --quiet --user=root 2>/dev/null || true
    fi
    for f in "$DIR"/slurmd-*.pid; do [ -e "$f" ] && stop_pidfile "$f"; done
    stop_pidfile "$DIR/slurmctld.pid"
    if [ -f "$DIR/started-munged" ]; then
        stop_pidfile /run/munge/munged.pid
        rm -f "$DIR/started-munged"
    fi
    return 0
}

case "$ACTION" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) installed; all_up ;;
    *) usage ;;
esac
