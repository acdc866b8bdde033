#!/usr/bin/env bash
# One command that turns a GPU machine into real evidence for gpucheck, within a fixed wall-time budget.
#
# usage: scripts/gpu-verify.sh [--out DIR] [--budget SECONDS] [--skip-install] [--python PY] [--quick]
#                              [--skip STEP,...] [--only STEP,...]
#
# Run from the repository root on a machine with an NVIDIA GPU. Steps, each with its own time limit (capped
# by what is left of the budget, default 570 s), each recorded whether it passes or not, later steps running
# whatever an earlier one did:
#   install   a fresh virtualenv (DIR/venv) with a CUDA build of torch matching the driver (the highest of
#             cu130/cu128/cu126/cu124/cu121/cu118 the driver's "CUDA Version" admits, from download.pytorch.org),
#             tensorflow[and-cuda] and this project with its test extra, from the package index;
#             --skip-install uses --python (default python3) as it is
#   evidence  gpucheck snapshot; every nvidia-smi command gpucheck runs (its CSV queries, -q, -q -x, -L and the
#             table) plus one CSV of the facts scripts/import-gpu-evidence.py reads; nvcc --version; the
#             torch and TensorFlow worker reports; python -m torch.utils.collect_env; TensorFlow's start-up log
#   tests     the gpu-marked tests, JUnit to DIR/junit-gpu.xml
#   doctor    gpucheck doctor --json, again with --tf-logical-gpus 2 --precision bf16, and --markdown
#   bench     gpucheck bench-smoke: every placement with a short width and env-count sweep (--json, --plot),
#             and the latency probes on their own
# --quick leaves out the framework probes (torch/TF workers, collect_env, TF start-up; doctor without the
# torch, tensorflow and framework layers): for testing this script, not for recording evidence.
# and writes DIR/summary.md: what passed, failed, timed out or was skipped (and why), with the measurements.
# A GPU-only step on a machine without a GPU is skipped with the reason. Every command's output is kept in
# DIR/logs/. DIR defaults to $OUT (set on the lent GPU machines), else ./gpu-verify-<UTC time>.
# Exit status: 0 when no step failed or timed out (skipped steps do not count), 1 otherwise, 2 usage.
set -uo pipefail

STARTED=$(date +%s)
BUDGET=570
OUTDIR="${OUT:-}"
PYTHON=""
SKIP_INSTALL=0
QUICK=0
SKIP=""
ONLY=""
STEPS="install evidence tests doctor bench"

usage() { sed -n '4,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || usage; OUTDIR="$2"; shift 2 ;;
        --budget) [ $# -ge 2 ] || usage; BUDGET="$2"; shift 2 ;;
        --python) [ $# -ge 2 ] || usage; PYTHON="$2"; shift 2 ;;
        --skip-install) SKIP_INSTALL=1; shift ;;
        --quick) QUICK=1; shift ;;
        --skip) [ $# -ge 2 ] || usage; SKIP="$2"; shift 2 ;;
        --only) [ $# -ge 2 ] || usage; ONLY="$2"; shift 2 ;;
        -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu-verify: unknown option $1" >&2; usage ;;
    esac
done
[[ "$BUDGET" =~ ^[0-9]+$ ]] || { echo "gpu-verify: --budget takes seconds" >&2; exit 2; }
for s in ${SKIP//,/ } ${ONLY//,/ }; do
    [[ " $STEPS " == *" $s "* ]] || { echo "gpu-verify: no step '$s' (steps: $STEPS)" >&2; exit 2; }
done
[ -f pyproject.toml ] && [ -d gpucheck ] || { echo "gpu-verify: run it from the gpucheck repository root" >&2; exit 2; }
REPO="$(pwd)"
OUTDIR="${OUTDIR:-$REPO/gpu-verify-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUTDIR/logs" || exit 2
OUTDIR="$(cd "$OUTDIR" && pwd)"
RESULTS="$OUTDIR/steps.tsv"
printf 'step\tstatus\tseconds\tnote\n' > "$RESULTS"

# ---- helpers ----------------------------------------------------------------------------------------------
left() { echo $(( BUDGET - ($(date +%s) - STARTED) )); }
wanted() {
    [ -n "$ONLY" ] && [[ ",$ONLY," != *",$1,"* ]] && return 1
    [[ ",$SKIP," == *",$1,"* ]] && return 1
    return 0
}
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4//$'\t'/ }" >> "$RESULTS"; echo "[gpu-verify] $1: $2 ($3 s) ${4:-}" >&2; }
skip() { record "$1" "skipped" 0 "$2"; }

# run NAME LIMIT OKCODES CMD... : the command under `timeout`, output to logs/NAME.log, one line in steps.tsv.
# OKCODES lists the exit statuses that count as a pass (doctor exits 1 for failing findings: it still ran).
run() {
    local name="$1" limit="$2" ok="$3"; shift 3
    local remaining; remaining=$(left)
    if [ "$remaining" -le 5 ]; then skip "$name" "the ${BUDGET}s budget is spent"; return 0; fi
    [ "$limit" -gt "$remaining" ] && limit=$((remaining - 2))
    local t0 rc; t0=$(date +%s)
    { echo "\$ $*"; echo; } > "$OUTDIR/logs/$name.log"
    timeout --kill-after=5 "$limit" "$@" >> "$OUTDIR/logs/$name.log" 2>&1
    rc=$?
    local secs=$(( $(date +%s) - t0 ))
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        record "$name" "timeout" "$secs" "stopped at its ${limit}s limit; see logs/$name.log"
    elif [[ " $ok " == *" $rc "* ]]; then
        record "$name" "ok" "$secs" "exit $rc"
    else
        record "$name" "failed" "$secs" "exit $rc: $(tail -n 3 "$OUTDIR/logs/$name.log" | tr '\n' ' ' | cut -c1-200)"
    fi
    return 0
}

# capture NAME FILE LIMIT CMD... : like run, but stdout goes to FILE (the evidence), stderr to the log.
# CAPTURE_OK (default "0") lists the exit statuses that count as a pass; with more than 0 in it, the command
# must also have printed something (`python -m gpucheck` without gpucheck exits 1 too).
capture() {
    local name="$1" file="$2" limit="$3" ok="${CAPTURE_OK:-0}"; shift 3
    local remaining; remaining=$(left)
    if [ "$remaining" -le 5 ]; then skip "$name" "the ${BUDGET}s budget is spent"; return 0; fi
    [ "$limit" -gt "$remaining" ] && limit=$((remaining - 2))
    local t0 rc; t0=$(date +%s)
    echo "\$ $*" > "$OUTDIR/logs/$name.log"
    timeout --kill-after=5 "$limit" "$@" > "$file" 2>> "$OUTDIR/logs/$name.log"
    rc=$?
    echo "exit status $rc" >> "$OUTDIR/logs/$name.log"
    local secs=$(( $(date +%s) - t0 ))
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then record "$name" "timeout" "$secs" "stopped at ${limit}s"
    elif [[ " $ok " == *" $rc "* ]] && [ "$ok" != "0" ] && [ ! -s "$file" ]; then
        record "$name" "failed" "$secs" "exit $rc with no output ($(basename "$file"), logs/$name.log)"
    elif [[ " $ok " == *" $rc "* ]]; then record "$name" "ok" "$secs" "$(basename "$file"), exit $rc"
    else record "$name" "failed" "$secs" "exit $rc ($(basename "$file"), logs/$name.log)"
    fi
    return 0
}

# ---- detect -----------------------------------------------------------------------------------------------
HAVE_GPU=0
NO_GPU_REASON=""
if ! command -v nvidia-smi >/dev/null 2>&1; then
    NO_GPU_REASON="no NVIDIA GPU: nvidia-smi is not installed"
elif ! timeout 20 nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    NO_GPU_REASON="no NVIDIA GPU: \`nvidia-smi -L\` lists none"
else
    HAVE_GPU=1
fi
DRIVER_CUDA=""
if [ "$HAVE_GPU" = 1 ]; then
    DRIVER_CUDA="$(timeout 20 nvidia-smi 2>/dev/null | grep -oE 'CUDA (UMD )?Version: *[0-9]+\.[0-9]+' | grep -oE '[0-9]+\.[0-9]+' | head -n1)"
fi
echo "[gpu-verify] results in $OUTDIR; GPU: $([ "$HAVE_GPU" = 1 ] && echo "yes (driver CUDA ${DRIVER_CUDA:-?})" || echo "$NO_GPU_REASON")" >&2

# The torch wheel index for the driver: the newest CUDA build the driver's CUDA version admits.
torch_index() {
    local have="$1" tag major minor
    for tag in 130 128 126 124 121 118; do
        major=${tag:0:2}; minor=${tag:2}
        if awk -v h="$have" -v w="$major.$minor" 'BEGIN { split(h, a, "."); split(w, b, ".");
                exit !(a[1] > b[1] || (a[1] == b[1] && a[2] >= b[2])) }'; then
            echo "https://download.pytorch.org/whl/cu$tag"; return 0
        fi
    done
    return 1
}

# ---- install ----------------------------------------------------------------------------------------------
VENV="$OUTDIR/venv"
PIP_OPTS="--quiet --timeout 20 --retries 1"  # NOTE: fail fast where the index cannot be reached
if ! wanted install; then
    skip install "not asked for (--skip/--only)"
elif [ "$SKIP_INSTALL" = 1 ]; then
    skip install "--skip-install: using ${PYTHON:-python3} as it is"
elif [ "$HAVE_GPU" = 0 ]; then
    skip install "$NO_GPU_REASON (no driver to match a CUDA torch build to); use --skip-install --python PY"
else
    run venv 60 "0" python3 -m venv "$VENV"
    PYTHON="$VENV/bin/python"
    INDEX="$(torch_index "${DRIVER_CUDA:-0.0}")" || INDEX=""
    if [ -n "$INDEX" ]; then
        run install-torch 240 "0" "$PYTHON" -m pip install $PIP_OPTS torch --index-url "$INDEX"
    else
        record install-torch failed 0 "the driver's CUDA version '${DRIVER_CUDA}' is older than any torch CUDA build"
    fi
    run install-tensorflow 200 "0" "$PYTHON" -m pip install $PIP_OPTS 'tensorflow[and-cuda]'
    run install-project 90 "0" "$PYTHON" -m pip install $PIP_OPTS -e "$REPO[test]"
    if ! "$PYTHON" -c 'import gpucheck' >/dev/null 2>&1; then
        # NOTE: a machine without the package index (the lent GPU machines reach nothing outside) still
        # records everything the system python can: gpucheck from this checkout, frameworks if installed.
        echo "[gpu-verify] the venv has no gpucheck (install failed): using python3 with PYTHONPATH=$REPO" >&2
        PYTHON=python3
        export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
    fi
fi
PYTHON="${PYTHON:-python3}"
GPUCHECK=("$PYTHON" -m gpucheck)
QUICK_SKIP=()
[ "$QUICK" = 1 ] && QUICK_SKIP=(--skip torch,tensorflow,framework)
"$PYTHON" -c 'import gpucheck' >/dev/null 2>&1 || echo "[gpu-verify] warning: $PYTHON cannot import gpucheck" >&2

# ---- evidence ---------------------------------------------------------------------------------------------
EV="$OUTDIR/evidence"
mkdir -p "$EV"
FACTS_FIELDS="index,name,uuid,driver_version,memory.total,compute_cap,persistence_mode,compute_mode,mig.mode.current,ecc.mode.current,ecc.errors.uncorrected.volatile.total,ecc.errors.uncorrected.aggregate.total,retired_pages.pending,remapped_rows.pending,remapped_rows.failure,pstate,utilization.gpu,pcie.link.gen.current,pcie.link.gen.max,pcie.link.width.current,pcie.link.width.max"
if wanted evidence; then
    # Every nvidia-smi run gpucheck makes is recorded by a shim first on PATH (argv, stdout, stderr, exit
    # status per run): the snapshot runs the real collector through it, then each form is asked once more.
    SHIM="$OUTDIR/shim"
    REAL_SMI="$(command -v nvidia-smi 2>/dev/null)"
    if [ "$HAVE_GPU" = 1 ]; then
        mkdir -p "$SHIM"
        {
            echo '#!/usr/bin/env bash'
            echo "base=\$(mktemp '$EV/nvidia-smi-XXXXXX')"
            echo 'printf "%s\n" "$*" > "$base.argv"'
            echo "'$REAL_SMI' \"\$@\" > \"\$base.out\" 2> \"\$base.err\""
            echo 'rc=$?'
            echo 'echo "$rc" > "$base.rc"; cat "$base.out"; cat "$base.err" >&2; rm -f "$base"'
            echo 'exit "$rc"'
        } > "$SHIM/nvidia-smi"
        chmod +x "$SHIM/nvidia-smi"
        export PATH="$SHIM:$PATH"
    fi
    capture snapshot "$EV/snapshot.log" 120 "${GPUCHECK[@]}" snapshot -o "$EV/snapshot.json" "${QUICK_SKIP[@]}"
    if [ "$HAVE_GPU" = 1 ]; then
        # The forms gpucheck falls back to (asked of gpucheck itself), whether or not this driver needed them.
        "$PYTHON" - > "$EV/nvidia-smi-commands.txt" 2>>"$OUTDIR/logs/evidence.log" <<'PY'
from gpucheck.collect.sources import nvidia_smi as s
names = ("QUERY_ARGV", "HELP_ARGV", "XML_ARGV", "TEXT_ARGV", "TABLE_ARGV", "LEGACY_QUERY_ARGV")
for argv in [getattr(s, n) for n in names if hasattr(s, n)] + [("nvidia-smi", "-L")]:
    print("\t".join(argv))
PY
        i=0
        while IFS=$'\t' read -r -a argv; do
            [ "${#argv[@]}" -gt 0 ] || continue
            i=$((i + 1))
            capture "nvidia-smi-$i" /dev/null 30 "${argv[@]}"
        done < "$EV/nvidia-smi-commands.txt"
        capture nvidia-smi-facts "$EV/nvidia-smi-facts.csv" 30 nvidia-smi "--query-gpu=$FACTS_FIELDS" --format=csv
    else
        skip nvidia-smi "$NO_GPU_REASON"
    fi
    if command -v nvcc >/dev/null 2>&1; then
        capture nvcc "$EV/nvcc-version.txt" 20 nvcc --version
    else
        skip nvcc "nvcc is not on PATH"
    fi
    if [ "$QUICK" = 1 ]; then
        skip frameworks "--quick: no torch/TensorFlow worker reports, collect_env or TF start-up log"
    else
        capture torch-worker "$EV/torch-worker.json" 120 "$PYTHON" gpucheck/collect/workers/torch_probe.py
        capture tf-worker "$EV/tf-worker.json" 150 "$PYTHON" gpucheck/collect/workers/tf_probe.py
        capture collect-env "$EV/collect_env.txt" 90 "$PYTHON" -m torch.utils.collect_env
        capture tf-startup "$EV/tf-startup.stdout" 150 env TF_CPP_MIN_LOG_LEVEL=0 "$PYTHON" -c \
            'import tensorflow as tf; print(tf.__version__); print(tf.config.list_physical_devices("GPU"))'
        cp "$OUTDIR/logs/tf-startup.log" "$EV/tf-startup.log" 2>/dev/null
    fi
else
    skip evidence "not asked for (--skip/--only)"
fi

# ---- tests ------------------------------------------------------------------------------------------------
if ! wanted tests; then
    skip tests "not asked for (--skip/--only)"
elif [ "$HAVE_GPU" = 0 ]; then
    skip gpu-tests "$NO_GPU_REASON (the gpu-marked tests would all skip)"
else
    run gpu-tests 150 "0" "$PYTHON" -m pytest -m gpu -p no:cacheprovider -q --junitxml="$OUTDIR/junit-gpu.xml"
fi

# ---- doctor -----------------------------------------------------------------------------------------------
if wanted doctor; then
    # NOTE: doctor exits 1 when a finding fails: it ran, and the verdict is in the report.
    CAPTURE_OK="0 1" capture doctor "$OUTDIR/doctor.json" 120 "${GPUCHECK[@]}" doctor --json --ci none \
        "${QUICK_SKIP[@]}"
    if [ "$HAVE_GPU" = 1 ]; then
        CAPTURE_OK="0 1" capture doctor-tf2-bf16 "$OUTDIR/doctor-tf2-bf16.json" 150 \
            "${GPUCHECK[@]}" doctor --json --ci none --tf-logical-gpus 2 --precision bf16
    else
        skip doctor-tf2-bf16 "$NO_GPU_REASON (--tf-logical-gpus splits GPU 0)"
    fi
    CAPTURE_OK="0 1" capture doctor-markdown "$OUTDIR/doctor.md" 120 "${GPUCHECK[@]}" doctor --markdown \
        --ci none "${QUICK_SKIP[@]}"
else
    skip doctor "not asked for (--skip/--only)"
fi

# ---- bench-smoke ------------------------------------------------------------------------------------------
# Flags as posted for issue 12 (coord notes); a flag this gpucheck lacks makes the step fail (exit 2), recorded.
if ! wanted bench; then
    skip bench "not asked for (--skip/--only)"
elif [ "$HAVE_GPU" = 0 ]; then
    skip bench "$NO_GPU_REASON (the gpu, split and gpu-env placements need one)"
else
    CAPTURE_OK="0 1" capture bench-sweep "$OUTDIR/bench.json" 200 "${GPUCHECK[@]}" bench-smoke \
        --placements cpu,gpu,split,gpu-env --envs 8,64,512 --hidden 64,256 --repeats 1 --json \
        --plot "$OUTDIR/bench.png"
    CAPTURE_OK="0 1" capture bench-latency "$OUTDIR/bench-latency.json" 90 "${GPUCHECK[@]}" bench-smoke \
        --placements gpu --envs 8 --repeats 1 --latency --json
fi

# ---- summary ----------------------------------------------------------------------------------------------
"${PYTHON}" - "$OUTDIR" "$BUDGET" "$(( $(date +%s) - STARTED ))" "$HAVE_GPU" "$NO_GPU_REASON" > "$OUTDIR/summary.md" <<'EOF' || \
    { echo "# gpu-verify summary"; echo; cat "$OUTDIR/steps.tsv"; } > "$OUTDIR/summary.md"
import json, sys, xml.etree.ElementTree as ET
from pathlib import Path
out, budget, took, have_gpu, why = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5]
rows = [line.split("\t") for line in (out / "steps.tsv").read_text().splitlines()[1:] if line]
print("# gpu-verify summary\n")
print(f"Wall time {took} s of a {budget} s budget. GPU: {'yes' if have_gpu else why}.")
for argv in sorted((out / "evidence").glob("nvidia-smi-*.argv")):
    if argv.read_text().split() == ["-L"] and argv.with_suffix(".out").exists():
        print("\n```\n" + argv.with_suffix(".out").read_text().strip() + "\n```")
        break
counts = {s: sum(1 for r in rows if r[1] == s) for s in ("ok", "failed", "timeout", "skipped")}
print(f"\n{counts['ok']} ok, {counts['failed']} failed, {counts['timeout']} timed out, {counts['skipped']} skipped.\n")
print("| step | status | seconds | note |\n|---|---|---|---|")
for name, status, secs, note in rows:
    print(f"| {name} | {status} | {secs} | {note.replace('|', '/')} |")
def load(name):
    try:
        return json.loads((out / name).read_text())
    except (OSError, ValueError):
        return None
for name in ("doctor.json", "doctor-tf2-bf16.json"):
    doc = load(name)
    if isinstance(doc, dict) and isinstance(doc.get("findings"), list):
        bad = [f"`{f.get('check')}` {f.get('status')}: {f.get('summary')}" for f in doc["findings"]
               if f.get("status") in ("fail", "error", "warn")]
        print(f"\n## {name}: {doc.get('status')} ({doc.get('counts')})\n")
        print("\n".join(f"- {b}" for b in bad) or "- every check passed or was skipped")
junit = out / "junit-gpu.xml"
if junit.exists():
    try:
        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        print(f"\n## gpu-marked tests\n\n{suite.get('tests')} tests, {suite.get('failures')} failures, "
              f"{suite.get('errors')} errors, {suite.get('skipped')} skipped")
    except (ET.ParseError, AttributeError):
        print("\n## gpu-marked tests\n\njunit-gpu.xml could not be read")
bench = load("bench.json")
if isinstance(bench, dict):
    print(f"\n## bench-smoke: {bench.get('status')}\n")
    for cell in bench.get("throughput", [])[:40] if isinstance(bench.get("throughput"), list) else []:
        print(f"- {json.dumps(cell)[:300]}")
    for key in ("solve", "numerics", "latency", "problems"):
        if key in bench:
            print(f"- {key}: {json.dumps(bench[key])[:600]}")
EOF
cat "$OUTDIR/summary.md"
if awk -F'\t' 'NR > 1 && ($2 == "failed" || $2 == "timeout") { bad = 1 } END { exit !bad }' "$RESULTS"; then
    exit 1
fi
exit 0
