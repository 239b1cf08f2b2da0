#!/usr/bin/env bash
# Runs `dlnsim bench` and peer implementations of the same training step on the same sizes, in one go, and
# prints replica-steps/s side by side with the ratios to the hand-written C baseline.
#
#   Benchmarks/compare-peers.sh BASELINES_DIR
#   BASELINES_DIR=/path/to/baselines Benchmarks/compare-peers.sh
#
# BASELINES_DIR holds the peers: dln_ref.c (C/OpenMP, required) and optionally numpy_dln.py, jax_dln.py and
# torch_dln.py. Each takes --regime S|I --B --d --n --steps --reps (dln_ref.c also --schedule fused) and
# prints one JSON object with at least "regime", "B" and "replica_steps_per_s" (the Python peers also "impl").
#
# Runs every size RUNS times (default 3; each run times dlnsim and the peers back to back, "paired") and prints the
# median replica-steps/s and the median of the paired ratios to the C baseline, with the CPU model.
#
# Needs: a release build (swift build -c release), gcc with OpenMP, python3 with NumPy. JAX and PyTorch (CPU) are
# installed with pip into a virtual environment (PEERS_VENV, default ~/.cache/dlnsim-peers-venv) when the
# python3 on PATH lacks them; PEERS_INSTALL=0 skips them instead. The machine is shared: compare ratios from one
# run only.
set -euo pipefail
usage() {
  echo "usage: $0 BASELINES_DIR   (or set BASELINES_DIR)" >&2
  echo "  BASELINES_DIR: a folder with dln_ref.c and, optionally, numpy_dln.py, jax_dln.py, torch_dln.py" >&2
  exit 2
}
case "${1:-}" in -h|--help) usage ;; esac
[ $# -le 1 ] || usage
root="$(cd "$(dirname "$0")/.." && pwd)"
baselines="${1:-${BASELINES_DIR:-}}"
[ -n "$baselines" ] || usage
[ -d "$baselines" ] || { echo "no baselines folder at $baselines" >&2; usage; }
[ -f "$baselines/dln_ref.c" ] || { echo "$baselines has no dln_ref.c (the C baseline)" >&2; usage; }
work="$(mktemp -d /tmp/dlnsim-peers.XXXXXX)"
cp -r "$baselines"/. "$work"/
gcc -O3 -march=native -fopenmp "$work/dln_ref.c" -o "$work/dln_ref" -lm
dlnsim="$root/.build/release/dlnsim"
[ -x "$dlnsim" ] || (cd "$root" && swift build -c release >/dev/null)
export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$work/pocl}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
runs="${RUNS:-3}"
# The Python peers' interpreter: python3 if it has JAX and PyTorch, else a virtual environment with them.
py=python3
if ! python3 -c 'import jax, torch' 2>/dev/null && [ "${PEERS_INSTALL:-1}" != 0 ]; then
  venv="${PEERS_VENV:-$HOME/.cache/dlnsim-peers-venv}"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import jax, torch, numpy' 2>/dev/null; then
    echo "installing NumPy, JAX and PyTorch (CPU) into $venv (pip) ..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >&2
    "$venv/bin/pip" install -q numpy "jax[cpu]" >&2
    # PyTorch's own CPU index first (smaller wheels), PyPI's build (CUDA libraries, runs on the CPU) otherwise.
    "$venv/bin/pip" install -q torch --index-url https://download.pytorch.org/whl/cpu >&2 2>/dev/null \
      || "$venv/bin/pip" install -q torch >&2
  fi
  py="$venv/bin/python"
fi
cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') ($(nproc) logical CPUs)"
d=500; n=250; steps=40  # every implementation times the same 40 steps per repetition
results="$work/results.jsonl"
: > "$results"
for run in $(seq 1 "$runs"); do
for cfg in "S 64" "S 1024" "S 8192" "I 16" "I 128"; do
  set -- $cfg; regime=$1; B=$2
  echo "== run $run/$runs: regime $regime, B = $B" >&2
  "$dlnsim" bench --regime "$regime" --batch "$B" --d $d --n $n --steps $steps --repetitions 3 --json \
    | python3 -c 'import json,sys
run=int(sys.argv[1])
for l in sys.stdin:
    r=json.loads(l); print(json.dumps({"run": run, "impl": "dlnsim " + r["device"], "regime": r["regime"], "B": r["replicas"], "rate": r["replica_steps_per_second"]}))' "$run" >> "$results"
  schedule=""; [ "$regime" = I ] && schedule="--schedule fused"
  "$work/dln_ref" --regime "$regime" --B "$B" --d $d --n $n --steps $steps --reps 3 $schedule \
    | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"run": int(sys.argv[1]), "impl": "C (OpenMP)", "regime": r["regime"], "B": r["B"], "rate": r["replica_steps_per_s"]}))' "$run" >> "$results"
  for peer in numpy_dln jax_dln torch_dln; do
    module=${peer%_dln}
    "$py" -c "import $module" 2>/dev/null || { echo "   ($module not installed: skipped)" >&2; continue; }
    (cd "$work" && "$py" "$peer.py" --regime "$regime" --B "$B" --d $d --n $n --steps $steps --reps 3) \
      | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"run": int(sys.argv[1]), "impl": r["impl"], "regime": r["regime"], "B": r["B"], "rate": r["replica_steps_per_s"]}))' "$run" >> "$results" || true
  done
done
done
python3 - "$results" "$cpu" "$runs" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"CPU: {sys.argv[2]}; d = 500, n = 250, float32; medians over {sys.argv[3]} paired run(s)")
print(f"{'regime':6} {'B':>5}  {'implementation':46} {'replica-steps/s':>15} {'vs C':>7} {'range vs C':>13}")
for key in sorted({(r['regime'], r['B']) for r in rows}, key=lambda k: (k[0] != 'S', k[1])):
    group = [r for r in rows if (r['regime'], r['B']) == key]
    c = {r['run']: r['rate'] for r in group if r['impl'].startswith('C')}
    for impl in dict.fromkeys(r['impl'] for r in group):
        rates = [r for r in group if r['impl'] == impl]
        median = statistics.median(r['rate'] for r in rates)
        ratios = [r['rate'] / c[r['run']] for r in rates if r['run'] in c]
        ratio = f"{statistics.median(ratios):.2f}x" if ratios else "-"
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "-"
        print(f"{key[0]:6} {key[1]:>5}  {impl[:46]:46} {median:>15.4g} {ratio:>7} {spread:>13}")
PY
