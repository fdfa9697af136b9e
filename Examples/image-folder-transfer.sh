#!/usr/bin/env bash
# The course's transfer-learning exercise on images in class folders ("your own photos"): a two-class task,
# cat vs dog, as DIR/cat/*.png and DIR/dog/*.png made from CIFAR-10, and a ResNet-18 trained on it four ways,
# side by side in `attn compare`:
#   extract   — feature extraction: the pretrained backbone frozen, only a new head for the two classes trains;
#   finetune  — every weight trains, starting from the pretrained ones;
#   unfreeze  — feature extraction for the first epochs, then the backbone too at a tenth of the learning rate;
#   scratch   — the same network from random weights.
# The pretrained weights: torchvision's ImageNet ResNet-18 when IMAGENET=resnet18.safetensors is given (converted
# once: python -c 'import torchvision, safetensors.torch as s; s.save_file(torchvision.models.resnet18(weights="DEFAULT")
# .state_dict(), "resnet18.safetensors")'; the images are then read at 224×224 with ImageNet's normalisation, slow on
# a CPU), or the run directory PRETRAINED=RUN of an earlier `attn train cnn --arch resnet18`, otherwise an
# AttentionKit run pretrained here on the other eight CIFAR classes (no cat, no dog).
# Usage: bash Examples/image-folder-transfer.sh [CIFAR_DIR] [OUT_DIR] [EPOCHS]
#   CIFAR_DIR defaults to corpora/cifar10-sample (100 images: a smoke run; pass the full cifar-10-batches-bin for
#   numbers worth comparing). Needs: swift build -c release --product attn --product image-folders-from-cifar
set -euo pipefail
DATA=${1:-corpora/cifar10-sample}
OUT=${2:-runs/image-folder-transfer}
EPOCHS=${3:-12}
BIN=${BIN:-.build/release}
ATTN="$BIN/attn"
mkdir -p "$OUT"
last() { tail -n 1 "$1"; }

# 1. the two-class photo folders
rm -rf "$OUT/photos"
"$BIN/image-folders-from-cifar" "$DATA" "$OUT/photos" cat,dog

# 2. pretrained weights
if [[ -n "${IMAGENET:-}" ]]; then
  INIT=("--init-from" "$IMAGENET")
  SIZE=(--image-size 224)
  echo "pretrained: torchvision's ImageNet weights ($IMAGENET), images at 224 × 224"
elif [[ -n "${PRETRAINED:-}" ]]; then
  INIT=("--init-from" "$PRETRAINED")
  SIZE=()
  echo "pretrained: the run $PRETRAINED"
else
  "$ATTN" train cnn --overwrite --arch resnet18 --data "$DATA" --out "$OUT/pretrain" \
    --classes airplane,automobile,bird,deer,frog,horse,ship,truck --epochs 30 --lr 0.1 > "$OUT/pretrain.log"
  echo "pretrain (8 other classes):            $(last "$OUT/pretrain.log")"
  INIT=("--init-from" "$OUT/pretrain")
  SIZE=()
fi

# 3. the same folders and split, four ways (the split is seeded: every run validates on the same images)
COMMON=(--arch resnet18 --data "$OUT/photos" --epochs "$EPOCHS" --val-fraction 0.1 "${SIZE[@]}")
"$ATTN" train cnn --overwrite "${COMMON[@]}" "${INIT[@]}" --freeze backbone --out "$OUT/extract" > "$OUT/extract.log"
echo "feature extraction (backbone frozen):  $(last "$OUT/extract.log")"
"$ATTN" train cnn --overwrite "${COMMON[@]}" "${INIT[@]}" --lr 0.01 --out "$OUT/finetune" > "$OUT/finetune.log"
echo "fine-tuning (everything, lr 0.01):     $(last "$OUT/finetune.log")"
"$ATTN" train cnn --overwrite "${COMMON[@]}" "${INIT[@]}" --freeze backbone --unfreeze-epoch $((EPOCHS / 2 + 1)) --out "$OUT/unfreeze" > "$OUT/unfreeze.log"
echo "extract, then unfreeze at lr × 0.1:    $(last "$OUT/unfreeze.log")"
"$ATTN" train cnn --overwrite "${COMMON[@]}" --out "$OUT/scratch" > "$OUT/scratch.log"
echo "from scratch:                          $(last "$OUT/scratch.log")"

# 4. side by side
"$ATTN" compare "$OUT/extract" "$OUT/finetune" "$OUT/unfreeze" "$OUT/scratch" --out "$OUT/comparison"
