#!/usr/bin/env bash
# Times the full-matrix deep linear network (f(x) = W_L⋯W_1·x, B replicas, plain GD) in `dlnsim bench --matrix`
# (CPU engine and every OpenCL device) and in a batched-GEMM peer script (PyTorch bmm and NumPy matmul) on the same
# problem, back to back ("paired"), and prints replica-steps/s with the ratios of each engine to PyTorch.
#
#   Benchmarks/compare-matrix-peers.sh MATRIX_PEER
#   MATRIX_PEER=/path/to/matrix_dln.py RUNS=5 Benchmarks/compare-matrix-peers.sh
#
# MATRIX_PEER is the path of a peer script outside this repository (nothing in dlnsim depends on it). It must take
# --impl torch|numpy --widths W0 … WL --n N --B B --steps S --reps R, time the best of R repetitions of S gradient
# steps on Gaussian data X (n×n_0) shared by the replicas, a teacher of rank min(n_0, n_L) with singular values
# 1, 2, …, layers N(0, α²/n_{l−1}) with α spread over [0.1, 1] and step 0.01, and print one JSON line with at least
# "replica_steps_per_s" and "gflops". `dlnsim bench --matrix` builds the same problem (its own random draws) and
# counts GFLOP/s the same way.
#
# Sizes: WIDTHS (default "100 100 100 10"), N (400), B (256), STEPS (20), REPS (3: best of, per measurement), RUNS
# (3: paired runs; the table shows medians and the range of the paired ratios). Threads: the peers get
# OMP_NUM_THREADS = MKL_NUM_THREADS = the number of logical CPUs (override THREADS), and so does the CPU engine.
#
# Needs: a release build (built here if missing), python3. NumPy and PyTorch (CPU) come from the python3 on PATH if
# it has them, else from the virtual environment of compare-peers.sh (PEERS_VENV, default
# ~/.cache/dlnsim-peers-venv), which is created with pip when missing (PEERS_INSTALL=0: skip instead). The machine
# may be shared: compare ratios from one run, not absolute rates from different runs.
set -euo pipefail
usage() {
  echo "usage: [WIDTHS=\"100 100 100 10\"] [N=400] [B=256] [STEPS=20] [RUNS=3] $0 MATRIX_PEER   (or set MATRIX_PEER)" >&2
  echo "  MATRIX_PEER: a batched-GEMM implementation of the same problem, e.g. a copy of matrix_dln.py (see the" >&2
  echo "  comment at the top of $0: --impl torch|numpy --widths --n --B --steps --reps, one JSON line with" >&2
  echo "  replica_steps_per_s and gflops)" >&2
  exit 2
}
case "${1:-}" in -h|--help) usage ;; esac
[ $# -le 1 ] || usage
root="$(cd "$(dirname "$0")/.." && pwd)"
peer="${1:-${MATRIX_PEER:-}}"
[ -n "$peer" ] || { echo "no peer script given" >&2; usage; }
[ -f "$peer" ] || { echo "no peer script at $peer" >&2; usage; }
widths="${WIDTHS:-100 100 100 10}"; n="${N:-400}"; B="${B:-256}"; steps="${STEPS:-20}"; reps="${REPS:-3}"
runs="${RUNS:-3}"; threads="${THREADS:-$(nproc)}"
dlnsim="$root/.build/release/dlnsim"
[ -x "$dlnsim" ] || (cd "$root" && swift build -c release >/dev/null)
work="$(mktemp -d /tmp/dlnsim-matrix-peers.XXXXXX)"
export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$work/pocl}" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
# The peers' interpreter: python3 if it has NumPy and PyTorch, else the shared virtual environment.
py=python3
if ! python3 -c 'import numpy, torch' 2>/dev/null && [ "${PEERS_INSTALL:-1}" != 0 ]; then
  venv="${PEERS_VENV:-$HOME/.cache/dlnsim-peers-venv}"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import numpy, torch' 2>/dev/null; then
    echo "installing NumPy and PyTorch (CPU) into $venv (pip) ..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >&2
    "$venv/bin/pip" install -q numpy >&2
    "$venv/bin/pip" install -q torch --index-url https://download.pytorch.org/whl/cpu >&2 2>/dev/null \
      || "$venv/bin/pip" install -q torch >&2
  fi
  py="$venv/bin/python"
fi
cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') ($(nproc) logical CPUs)"
versions="$("$py" -c 'import numpy; print("NumPy", numpy.__version__, end="")' 2>/dev/null || echo "no NumPy")"
versions="$versions, $("$py" -c 'import torch; print("PyTorch", torch.__version__, "with", torch.get_num_threads(), "threads", end="")' 2>/dev/null || echo "no PyTorch")"
results="$work/results.jsonl"
: > "$results"
for run in $(seq 1 "$runs"); do
  echo "== run $run/$runs: widths $widths, n = $n, B = $B" >&2
  # shellcheck disable=SC2086
  "$dlnsim" bench --matrix --widths $widths --n "$n" --batch "$B" --steps "$steps" --repetitions "$reps" --json \
    | python3 -c 'import json, sys
for l in sys.stdin:
    r = json.loads(l)
    print(json.dumps({"run": int(sys.argv[1]), "impl": "dlnsim " + r["device"],
                  "rate": float(r["replica_steps_per_second"]), "gflops": float(r["gflops"])}))' "$run" >> "$results"
  for impl in torch numpy; do
    "$py" -c "import $impl" 2>/dev/null || { echo "   ($impl not installed: skipped)" >&2; continue; }
    # shellcheck disable=SC2086
    "$py" "$peer" --impl "$impl" --widths $widths --n "$n" --B "$B" --steps "$steps" --reps "$reps" \
      | python3 -c 'import json, sys
r = json.loads(sys.stdin.read())
print(json.dumps({"run": int(sys.argv[1]), "impl": r.get("impl", sys.argv[2]), "rate": r["replica_steps_per_s"], "gflops": r["gflops"]}))' "$run" "$impl" >> "$results" || true
  done
done
python3 - "$results" "$cpu" "$runs" "$widths" "$n" "$B" "$versions" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cpu, runs, widths, n, B, versions = sys.argv[2:8]
print(f"CPU: {cpu}; widths {widths}, n = {n}, B = {B}, float32; {versions}; medians over {runs} paired run(s)")
torch = {r["run"]: r["rate"] for r in rows if r["impl"] == "matrix_torch"}
print(f"{'implementation':58} {'replica-steps/s':>15} {'GFLOP/s':>8} {'vs PyTorch':>10} {'range':>12}")
for impl in dict.fromkeys(r["impl"] for r in rows):
    group = [r for r in rows if r["impl"] == impl and r["rate"] == r["rate"]]  # failed rows have NaN
    if not group:
        print(f"{impl[:58]:58} {'failed':>15}")
        continue
    ratios = [r["rate"] / torch[r["run"]] for r in group if r["run"] in torch]
    ratio = f"{statistics.median(ratios):.2f}x" if ratios else "-"
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "-"
    rate = statistics.median(r["rate"] for r in group)
    gflops = statistics.median(r["gflops"] for r in group)
    print(f"{impl[:58]:58} {rate:>15.4g} {gflops:>8.1f} {ratio:>10} {spread:>12}")
PY
