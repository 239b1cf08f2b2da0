#!/usr/bin/env bash
# The OpenCL kernels on Oclgrind: a simulated OpenCL 1.2 GPU that checks every memory access, finds data races
# between work-items and work-groups, and checks the use of the OpenCL API. No GPU needed.
#
#   scripts/oclgrind.sh              the planted-bug check, then the small equivalence tests of every kernel shape
#                                    (float32; the matrix kernels in float64 too)
#                                    (scalar, vector16, tiled; gradient flow; the stochastic steps; momentum;
#                                    the curvature observables; learning-rate schedules; the matrix model in each
#                                    of its shapes, and its mini-batch SGD) against the CPU engine, bit for bit,
#                                    on Oclgrind
#   scripts/oclgrind.sh self-check   the planted-bug check only: copies of the kernels with an out-of-bounds write
#                                    and with a missing barrier must be reported, and the aborted kernel must fail
#                                    the run with its name
#   scripts/oclgrind.sh scan LOG     exits 1 when LOG holds anything Oclgrind prints (its diagnostics), listing them
#
# Oclgrind runs with OCLGRIND_DATA_RACES=1 and OCLGRIND_CHECK_API=1 (not OCLGRIND_UNINITIALIZED: in Oclgrind 21.10
# that checker stops every kernel at LLVM's `freeze` instruction); its diagnostics go to the standard error of the
# tested process, which is captured and scanned: any diagnostic fails the step. Oclgrind
# (Debian package `oclgrind`) is registered for this script only, through a temporary OCL_ICD_VENDORS folder
# (OCLGRIND_ICD overrides the path of its ICD library). Needs the debug build (`swift build --build-tests`; run
# here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# What Oclgrind prints: every message names a kernel or starts with "Oclgrind"/"OCLGRIND"; the patterns below
# name its diagnostics. Any other line on the standard error that is not SwiftPM's own progress counts too.
DIAGNOSTIC='Invalid (read|write)|data race|[Uu]ninitiali[sz]ed|OCLGRIND|Oclgrind|[Ee]rror|[Ww]arning|divergence|'
DIAGNOSTIC+='Kernel: |Entity: |[Uu]naligned|[Bb]arrier|out of bounds'
SWIFTPM='^(\[[0-9]+/[0-9]+\] |Building for |Build complete|Compiling |Planning build|Write |Linking |Another instance of SwiftPM)'

# scan LOG: prints the diagnostic lines and unexpected lines of LOG (at most 40), exits 1 when there are any.
scan() {
    local log="$1" found
    found=$(grep -v -E "$SWIFTPM" "$log" | grep -v -E '^[[:space:]]*$' || true)
    if [ -n "$found" ]; then
        echo "Oclgrind reported $(grep -c -E "$DIAGNOSTIC" <<<"$found" || true) diagnostic line(s) in $log:"
        head -40 <<<"$found"
        return 1
    fi
    return 0
}

if [ "${1:-}" = "scan" ]; then
    [ -f "${2:-}" ] || { echo "usage: scripts/oclgrind.sh scan LOG"; exit 2; }
    scan "$2"
    exit $?
fi

icd="${OCLGRIND_ICD:-}"
if [ -z "$icd" ]; then
    for candidate in /usr/lib/oclgrind/liboclgrind-rt-icd.so /usr/local/lib/liboclgrind-rt-icd.so \
        /usr/lib/x86_64-linux-gnu/liboclgrind-rt-icd.so; do
        [ -f "$candidate" ] && { icd="$candidate"; break; }
    done
fi
if [ -z "$icd" ] || [ ! -f "$icd" ]; then
    echo "Oclgrind is not installed (no liboclgrind-rt-icd.so; on Debian: apt-get install oclgrind)"
    exit 1
fi

work=$(mktemp -d /tmp/dlnsim-oclgrind.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/vendors"
echo "$icd" >"$work/vendors/oclgrind.icd"
# Oclgrind is then the only platform: opencl:0:0, and the device tests' DLNSIM_TEST_DEVICE=oclgrind.
export OCL_ICD_VENDORS="$work/vendors"
export OCLGRIND_DATA_RACES=1 OCLGRIND_CHECK_API=1
export DLNSIM_TEST_DEVICE=oclgrind

dlnsim="${DLNSIM:-.build/debug/dlnsim}"
if [ ! -x "$dlnsim" ]; then swift build --build-tests; fi

# plant NAME FILE PATTERN REPLACEMENT: a copy of Kernels/ with one line of FILE replaced.
plant() {
    local dir="$work/$1"
    mkdir -p "$dir"
    cp Kernels/*.cl "$dir/"
    grep -q -F "$3" "$dir/$2" || { echo "self-check: '$3' is not in Kernels/$2 any more: update the plant"; exit 1; }
    python3 - "$dir/$2" "$3" "$4" <<'EOF'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
open(path, "w").write(text.replace(old, new, 1))
EOF
    echo "$dir"
}

self_check() {
    cat >"$work/tiny.yaml" <<'EOF'
name: tiny
problem: {d: 7, n: 3, data: independent, teacher: {density: 0.5}}
training: {steps: 40}
grid: {alpha: 0.3, learning_rate: 0.05}
seeds: 17
record: {checkpoints: 3}
EOF
    local oob race status
    # 1. An out-of-bounds write in dln_loss: Oclgrind drops the store and reports it; the run must fail naming the
    #    kernel, whose results were never written (not exit 0 with train_loss all 0.0).
    oob=$(plant oob loss.cl "loss[b] = acc * scale;" "loss[b + 1000000] = acc * scale;")
    status=0
    DLNSIM_KERNELS_DIR="$oob" "$dlnsim" run "$work/tiny.yaml" --device opencl:0:0 --out "$work/oob-out" --quiet \
        >"$work/oob.out" 2>"$work/oob.err" || status=$?
    if scan "$work/oob.err" >/dev/null || ! grep -q "Invalid write" "$work/oob.err"; then
        echo "self-check FAILED: the planted out-of-bounds write in dln_loss was not reported"
        cat "$work/oob.err"
        exit 1
    fi
    if [ "$status" -ne 1 ] || ! grep -q "kernel dln_loss was aborted" "$work/oob.err"; then
        echo "self-check FAILED: the aborted dln_loss did not fail the run (exit $status)"
        grep -v -E '^\s|^$' "$work/oob.err" | grep -v -E "$DIAGNOSTIC" || true
        exit 1
    fi
    # 2. The tiled kernel without the barrier between the residual and the gradient: a data race.
    race=$(plant race tiled.cl "        barrier(CLK_GLOBAL_MEM_FENCE);
        if (live) {
            for (int j = t;" "        if (live) {
            for (int j = t;")
    DLNSIM_KERNELS_DIR="$race" "$dlnsim" run "$work/tiny.yaml" --device opencl:0:0 --out "$work/race-out" --quiet \
        >"$work/race.out" 2>"$work/race.err" || true
    if scan "$work/race.err" >/dev/null || ! grep -q "data race" "$work/race.err"; then
        echo "self-check FAILED: the data race planted in dln_steps_tiled was not reported"
        cat "$work/race.err"
        exit 1
    fi
    # 3. The real kernels: nothing to report.
    "$dlnsim" run "$work/tiny.yaml" --device opencl:0:0 --out "$work/clean-out" --quiet \
        >"$work/clean.out" 2>"$work/clean.err"
    grep -v -E '^(device: |dlnsim: |progress: )' "$work/clean.err" >"$work/clean.diag" || true
    scan "$work/clean.diag" || { echo "self-check FAILED: Oclgrind reported the real kernels"; exit 1; }
    echo "self-check: Oclgrind reported the planted out-of-bounds write and data race; dlnsim failed naming dln_loss"
}

self_check
[ "${1:-}" = "self-check" ] && exit 0

# The small equivalence tests, one suite per process (Oclgrind runs one kernel at a time per process, on all cores:
# two processes side by side were measured slower than one after the other).
failed=0
# The diagonal models' kernels in float32 only (`smallSizesAgree…(` without `InFloat64`): the float64 build is the
# same source with REAL = double, the same indices and barriers, and runs bit-identically on PoCL in the fast tier;
# the matrix kernels' small cases mix both precisions.
for filter in '^DLNDeviceTests.EquivalenceTests/smallSizesAgree\(' '^DLNDeviceTests.EquivalenceTests/replicaStepsAgree\(' \
    '^DLNDeviceTests.EquivalenceTests/blockStepsAgree\(' \
    '^DLNDeviceTests.EquivalenceTests/stridedOrderAgrees\(' \
    '^DLNDeviceTests.FlowEquivalenceTests/smallSizesAgree\(' \
    '^DLNDeviceTests.StochasticEquivalenceTests/smallSizesAgreeStochastic\(' \
    '^DLNDeviceTests.MomentumTests/smallSizesAgreeMomentum\(' \
    '^DLNDeviceTests.CurvatureEquivalenceTests/smallSizesAgree\(' \
    '^DLNDeviceTests.ScheduleTests/smallSizesAgreeScheduled\(' \
    '^DLNDeviceTests.MatrixEquivalenceTests/smallSizes' '^DLNDeviceTests.MatrixSGDEquivalenceTests/smallSizes'; do
    echo "== on Oclgrind: swift test --filter $filter"
    status=0
    swift test --skip-build --no-parallel --filter "$filter" >"$work/tests.out" 2>"$work/tests.err" || status=$?
    grep -E "^(✘|device tests)|(passed|failed) after" "$work/tests.out" || true
    if [ "$status" -ne 0 ]; then
        echo "FAILED: swift test --filter $filter exited $status"
        failed=1
    fi
    scan "$work/tests.err" || failed=1
done
exit $failed
