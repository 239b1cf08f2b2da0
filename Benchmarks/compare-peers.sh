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
# Needs: a release build (swift build -c release), gcc with OpenMP; NumPy for the NumPy peer (others are
# skipped when their Python package is missing). The machine is shared: compare ratios from one run only.
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
d=500; n=250; steps=40
results="$work/results.jsonl"
: > "$results"
for cfg in "S 64" "S 1024" "I 16" "I 128"; do
  set -- $cfg; regime=$1; B=$2
  echo "== regime $regime, B = $B" >&2
  "$dlnsim" bench --regime "$regime" --batch "$B" --d $d --n $n --steps 20 --repetitions 3 --json \
    | python3 -c 'import json,sys
for l in sys.stdin:
    r=json.loads(l); print(json.dumps({"impl": "dlnsim " + r["device"], "regime": r["regime"], "B": r["replicas"], "rate": r["replica_steps_per_second"]}))' >> "$results"
  schedule=""; [ "$regime" = I ] && schedule="--schedule fused"
  "$work/dln_ref" --regime "$regime" --B "$B" --d $d --n $n --steps $steps --reps 3 $schedule \
    | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"impl": "C (OpenMP)", "regime": r["regime"], "B": r["B"], "rate": r["replica_steps_per_s"]}))' >> "$results"
  for peer in numpy_dln jax_dln torch_dln; do
    module=${peer%_dln}
    python3 -c "import $module" 2>/dev/null || { echo "   ($module not installed: skipped)" >&2; continue; }
    (cd "$work" && python3 "$peer.py" --regime "$regime" --B "$B" --d $d --n $n --steps $steps --reps 3) \
      | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"impl": r["impl"], "regime": r["regime"], "B": r["B"], "rate": r["replica_steps_per_s"]}))' >> "$results" || true
  done
done
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'regime':6} {'B':>5}  {'implementation':46} {'replica-steps/s':>15} {'vs C':>7}")
for key in sorted({(r['regime'], r['B']) for r in rows}, key=lambda k: (k[0] != 'S', k[1])):
    group = [r for r in rows if (r['regime'], r['B']) == key]
    c = next((r['rate'] for r in group if r['impl'].startswith('C')), None)
    for r in group:
        ratio = f"{r['rate'] / c:.2f}x" if c else "-"
        print(f"{key[0]:6} {key[1]:>5}  {r['impl'][:46]:46} {r['rate']:>15.4g} {ratio:>7}")
PY
