#!/usr/bin/env bash
# Transfer learning as the course teaches it, on the CIFAR-10 images here:
#   1. pretrain a ViT on five classes (airplane, automobile, bird, cat, deer), all their training images;
#   2. on the other five (dog, frog, horse, ship, truck) with only 10% of their training labels, train
#      a. from scratch, b. fine-tuning every weight from step 1, c. a linear probe (step 1's encoder frozen);
#   and print each one's validation accuracy (the same held-out images of the five new classes in a, b and c).
# Usage: bash Examples/transfer-learning.sh [DATA_DIR] [OUT_DIR]     (release build of attn first)
# DATA_DIR: the full CIFAR-10 binary folder (default data/cifar-10-batches-bin: `bash scripts/fetch-data.sh cifar10`);
# 10% of five classes' labels needs more than the 100 images of corpora/cifar10-sample.
set -euo pipefail
DATA=${1:-data/cifar-10-batches-bin}
[ -e "$DATA/data_batch_1.bin" ] || { echo "transfer-learning.sh: $DATA/data_batch_1.bin not found: bash scripts/fetch-data.sh cifar10, or pass the cifar-10-batches-bin folder" >&2; exit 1; }
OUT=${2:-runs/transfer}
ATTN=${ATTN:-.build/release/attn}
VIT=(--d-model 128 --heads 4 --depth 6 --mlp-ratio 2)
NEW=(--classes dog,frog,horse,ship,truck --train-fraction 0.1 --epochs 60 --warmup-epochs 5 --batch-size 64)
mkdir -p "$OUT"
last() { tail -n 1 "$1"; }
"$ATTN" train vit --overwrite --data "$DATA" --out "$OUT/pretrain" "${VIT[@]}" --classes airplane,automobile,bird,cat,deer --epochs 40 > "$OUT/pretrain.log"
echo "pretrain (5 classes, all labels):     $(last "$OUT/pretrain.log")"
"$ATTN" train vit --overwrite --data "$DATA" --out "$OUT/scratch" "${VIT[@]}" "${NEW[@]}" > "$OUT/scratch.log"
echo "from scratch (10% labels):            $(last "$OUT/scratch.log")"
"$ATTN" train vit --overwrite --data "$DATA" --out "$OUT/finetune" "${VIT[@]}" "${NEW[@]}" --init-from "$OUT/pretrain" --lr 5e-4 > "$OUT/finetune.log"
echo "fine-tuned from pretrain (10% labels): $(last "$OUT/finetune.log")"
"$ATTN" train vit --overwrite --data "$DATA" --out "$OUT/probe" "${VIT[@]}" "${NEW[@]}" --init-from "$OUT/pretrain" --freeze patchEmbedding,encoder > "$OUT/probe.log"
echo "linear probe, encoder frozen:         $(last "$OUT/probe.log")"
