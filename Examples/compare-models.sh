#!/usr/bin/env bash
# The course's comparison: CNNs against the ViT on the CIFAR-10 subset, Kim's TextCNN against the transformer on
# TREC coarse questions; each model's validation accuracy, parameters, training time and inference speed as a
# table (comparison.md/.csv) and bar charts (comparison.png), written by `attn compare`.
#
#   bash Examples/compare-models.sh [OUT]          (default OUT: runs/compare)
#
# Environment: DATA (a directory holding cifar-10-batches-bin and trec/train_5500.label, as `bash scripts/fetch-data.sh
# cifar10` and `… trec` make in data/; default: data/ when it holds them, else the samples in corpora/, which run
# the whole comparison quickly but measure little), IMAGE_EPOCHS and TEXT_EPOCHS (default: the recipes below),
# MODELS (default: "small lenet5 vgg11 resnet20 resnet56 preact18 vit cct textcnn transformer"), ATTN (the attn binary;
# default: a release build). A model whose run directory already holds best.safetensors and metrics.jsonl is not
# trained again, so the comparison can be redrawn, or grown one model at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/compare}
if [ -z "${DATA:-}" ] && [ -e data/cifar-10-batches-bin/data_batch_1.bin ] && [ -e data/trec/train_5500.label ]; then DATA=data; fi
MODELS=${MODELS:-"small lenet5 vgg11 resnet20 resnet56 preact18 vit cct textcnn transformer"}
if [ -z "${ATTN:-}" ]; then
    swift build -c release --product attn >/dev/null
    ATTN=.build/release/attn
fi
if [ -n "${DATA:-}" ]; then
    CIFAR="$DATA/cifar-10-batches-bin"; TREC="$DATA/trec/train_5500.label"
else
    CIFAR=corpora/cifar10-sample; TREC=corpora/trec-sample/train.label
    echo "compare-models.sh: on the samples in corpora/ (bash scripts/fetch-data.sh cifar10 and trec for the full data)" >&2
fi
for f in "$CIFAR/data_batch_1.bin" "$TREC"; do
    [ -e "$f" ] || { echo "compare-models.sh: $f not found (set DATA to a directory holding cifar-10-batches-bin and trec/train_5500.label)" >&2; exit 1; }
done
image_epochs=(); [ -n "${IMAGE_EPOCHS:-}" ] && image_epochs=(--epochs "$IMAGE_EPOCHS")
text_epochs=(); [ -n "${TEXT_EPOCHS:-}" ] && text_epochs=(--epochs "$TEXT_EPOCHS")

runs=()
for m in $MODELS; do
    dir="$OUT/$m"
    runs+=("$m=$dir")
    if [ -f "$dir/best.safetensors" ] && [ -f "$dir/metrics.jsonl" ]; then echo "== $m: reusing $dir"; continue; fi
    echo "== $m → $dir"
    case $m in
        small|lenet5|vgg11)
            "$ATTN" train cnn --arch "$m" --data "$CIFAR" --out "$dir" ${image_epochs[@]+"${image_epochs[@]}"} ;;
        resnet20)   # 76.8% at its best epoch in 24 minutes
            "$ATTN" train cnn --arch resnet20 --lr 0.1 --epochs 55 --data "$CIFAR" --out "$dir" ${image_epochs[@]+"${image_epochs[@]}"} ;;
        resnet56)
            "$ATTN" train cnn --arch resnet56 --lr 0.1 --epochs 25 --data "$CIFAR" --out "$dir" ${image_epochs[@]+"${image_epochs[@]}"} ;;
        preact18)   # PreActResNet-18 at half width (64 → 32; the full width needs about 4× the time): 79.0% in 27 minutes
            "$ATTN" train cnn --arch preact18 --width 32 --batch-size 64 --lr 0.05 --epochs 34 --data "$CIFAR" --out "$dir" ${image_epochs[@]+"${image_epochs[@]}"} ;;
        vit)
            "$ATTN" train vit --data "$CIFAR" --out "$dir" ${image_epochs[@]+"${image_epochs[@]}"} ;;
        cct)        # the ViT as a compact convolutional transformer for small data (--recipe cct-small, about 25 minutes)
            "$ATTN" train vit --recipe cct-small --data "$CIFAR" --out "$dir" ${image_epochs[@]+"${image_epochs[@]}"} ;;
        textcnn)
            "$ATTN" train classifier --model cnn --format trec --data "$TREC" --out "$dir" ${text_epochs[@]+"${text_epochs[@]}"} ;;
        transformer)
            "$ATTN" train classifier --model transformer --format trec --data "$TREC" --out "$dir" ${text_epochs[@]+"${text_epochs[@]}"} ;;
        *) echo "compare-models.sh: unknown model $m" >&2; exit 1 ;;
    esac
done
"$ATTN" compare "${runs[@]}" --out "$OUT" --title "CIFAR-10 subset and TREC coarse, validation splits, 2 CPU cores"
