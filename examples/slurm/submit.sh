#!/bin/bash
# Submits a dlnsim ensemble as N shards (a SLURM job array) and the merge that waits for them.
#   examples/slurm/submit.sh examples/quickstart.yaml runs/quickstart 8
# The merged output lands in runs/quickstart/merged. If shards hit their time limit, run the same command
# again: unfinished shards resume from their checkpoints, finished ones are skipped.
set -euo pipefail
CONFIG=${1:?usage: submit.sh CONFIG OUT N}
OUT=${2:?usage: submit.sh CONFIG OUT N}
N=${3:?usage: submit.sh CONFIG OUT N}
HERE=$(cd "$(dirname "$0")" && pwd)
# Fail in the first second on a bad configuration, not in N jobs after they queue.
"${DLNSIM:-dlnsim}" run "$CONFIG" --shard "0/$N" --check
ARRAY=$(sbatch --parsable --array=0-$((N - 1)) --export=ALL,CONFIG="$CONFIG",OUT="$OUT",N="$N" "$HERE/shard.sbatch")
MERGE=$(sbatch --parsable --dependency=afterok:"$ARRAY" --export=ALL,OUT="$OUT",N="$N" "$HERE/merge.sbatch")
echo "shards: job array $ARRAY (0-$((N - 1))), merge: job $MERGE → $OUT/merged"
