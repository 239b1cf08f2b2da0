#!/usr/bin/env bash
# Everything CI runs, in order: the lint, the fast test tier, the Oclgrind tier, the oracle tier with the Python
# package's tests beside it.
#
#   scripts/test.sh            lint + fast tier (about 2–3 minutes after the build) + Python package (about 2
#                              minutes: scripts/python-tests.sh) + Oclgrind tier + oracle tier
#   scripts/test.sh fast       lint + fast tier only
#
# The fast tier is `swift test --skip OracleTests`; the oracle tier (`swift test --filter OracleTests`) runs the
# long theory-oracle simulations. With CI=true a missing OpenCL platform fails the device tests instead of
# skipping them. The Oclgrind tier (scripts/oclgrind.sh, about 2 minutes) runs the kernels of every shape on
# Oclgrind, a simulated GPU that checks memory accesses, data races and API use; without Oclgrind installed it is
# skipped, except under CI, where it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== lint (swift-format, .swift-format)"
swift-format lint --strict --recursive --parallel --configuration .swift-format Package.swift Sources Tests

echo "== build"
swift build --build-tests

echo "== fast tier: swift test --skip OracleTests"
swift test --skip-build --skip OracleTests

if [ "${1:-all}" != "fast" ]; then
    echo "== Oclgrind tier: scripts/oclgrind.sh"
    if command -v oclgrind >/dev/null || [ -n "${OCLGRIND_ICD:-}" ] || [ "${CI:-}" = "true" ]; then
        scripts/oclgrind.sh
    else
        echo "Oclgrind is not installed (apt-get install oclgrind): the Oclgrind tier is skipped"
    fi

    # The Python package's tests (a fresh virtual environment, pytest through the binary: mostly waiting on pip and
    # on short runs) go beside the oracle tier; their output follows it.
    python_log=$(mktemp "${TMPDIR:-/tmp}/dlnsim-python-tests.XXXXXX")
    scripts/python-tests.sh >"$python_log" 2>&1 &
    python_pid=$!
    echo "== oracle tier: swift test --filter OracleTests (the Python package's tests run beside it)"
    oracle=0
    swift test --skip-build --filter OracleTests || oracle=$?
    python=0
    wait "$python_pid" || python=$?
    echo "== Python package: scripts/python-tests.sh"
    cat "$python_log"
    rm -f "$python_log"
    [ "$python" -eq 0 ] || { echo "FAILED: the Python package's tests exited $python"; exit 1; }
    [ "$oracle" -eq 0 ] || { echo "FAILED: the oracle tier exited $oracle"; exit 1; }
fi
