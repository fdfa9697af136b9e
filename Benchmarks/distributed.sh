#!/usr/bin/env bash
# Data-parallel overhead on one machine: one process with all cores against `mpirun -np 2` with a core each, on the
# same global batch, for `attn train cnn` and `attn train vit` (one epoch over LIMIT images, no validation, no
# augmentation). Prints steps/s of each and the allreduce and waiting times per step that the distributed run logs.
# Needs a release build with MPI: swift build -c release --traits MPI. Usage: Benchmarks/distributed.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ATTN=${ATTN:-.build/release/attn}
DATA=${DATA:-../shared/data/cifar-10-batches-bin}
LIMIT=${LIMIT:-2560}
BATCH=${BATCH:-128}
ROUNDS=${1:-2}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(--data "$DATA" --limit "$LIMIT" --val-fraction 0 --no-augment --epochs 1 --warmup-epochs 0)
steps_per_s() { python3 -c "import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print('%.3f' % (r['img_per_s']/$BATCH))" "$1/metrics.jsonl"; }
for round in $(seq "$ROUNDS"); do
  for verb in cnn vit; do
    "$ATTN" train "$verb" "${common[@]}" --batch-size "$BATCH" --out "$OUT/$verb-1" > "$OUT/log1" 2>&1
    mpirun --oversubscribe -np 2 "$ATTN" train "$verb" "${common[@]}" --batch-size $((BATCH / 2)) --out "$OUT/$verb-2" --distributed > "$OUT/log2" 2>&1
    overhead=$(grep -o 'per step: allreduce [0-9.]* ms, waiting for the slowest [0-9.]* ms' "$OUT/log2" | tail -1)
    params=$(grep -o '[0-9]* parameters' "$OUT/log1" | head -1)
    echo "round $round $verb ($params, global batch $BATCH): 1 process × $(nproc) threads $(steps_per_s "$OUT/$verb-1") steps/s; 2 processes × 1 thread $(steps_per_s "$OUT/$verb-2") steps/s; $overhead"
    rm -rf "$OUT/$verb-1" "$OUT/$verb-2"
  done
done
