#!/usr/bin/env bash
# Tests of the Python package (python/): a fresh virtual environment, `pip install ./python[test]` with the binary
# already built here (DLNSIM_BINARY, so the package's build hook does not build it again), then pytest end to end
# through the real binary. Needs python3 (≥ 3.9, with venv) and PyPI for the dependencies (numpy, pandas, xarray,
# pyyaml, tqdm, pytest, matplotlib). Usage: scripts/python-tests.sh [pytest arguments…]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [[ -z "${DLNSIM_BINARY:-}" ]]; then
    for candidate in .build/release/dlnsim .build/debug/dlnsim; do
        if [[ -x "$candidate" ]]; then DLNSIM_BINARY="$root/$candidate"; break; fi
    done
fi
if [[ -z "${DLNSIM_BINARY:-}" ]]; then
    echo "python-tests: no dlnsim binary: run 'swift build' first (or set DLNSIM_BINARY)" >&2
    exit 1
fi
export DLNSIM_BINARY
echo "python-tests: binary $DLNSIM_BINARY"

venv=$(mktemp -d "${TMPDIR:-/tmp}/dlnsim-venv.XXXXXX")
trap 'rm -rf "$venv"' EXIT
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    echo "python-tests: python3 cannot make a virtual environment (python3 -m venv): on Debian/Ubuntu install" \
        "python3-venv (apt-get install -y python3-venv)" >&2
    exit 1
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "./python[test]"
# the package must find the binary installed inside it, not only through DLNSIM_BINARY
"$venv/bin/python" -c "
import os, dlnsim
os.environ.pop('DLNSIM_BINARY')
path = dlnsim.find_binary()
assert path.startswith('$venv'), path
print('python-tests: installed package', dlnsim.__version__, 'with its binary at', path)
"
cd python/tests
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
