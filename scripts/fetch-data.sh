#!/usr/bin/env bash
# Downloads a full dataset from its official source into data/ (or DEST), for the accuracies the documentation quotes;
# the samples in corpora/ need no download. Usage: bash scripts/fetch-data.sh cifar10|multi30k|trec|sms-spam [DEST]
#   cifar10   https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz  → DEST/cifar-10-batches-bin (163 MB)
#   multi30k  https://github.com/multi30k/dataset (data/task1/raw)     → DEST/multi30k/{train,val}.{de,en}
#   trec      https://cogcomp.seas.upenn.edu/Data/QA/QC/                → DEST/trec/train_5500.label
#   sms-spam  https://archive.ics.uci.edu/dataset/228                   → DEST/sms-spam/SMSSpamCollection
# Needs curl, tar, gzip and unzip. A download that fails leaves nothing half-written behind.
set -euo pipefail
what="${1:-}"
dest="${2:-data}"
die() { echo "fetch-data.sh: $*" >&2; exit 1; }
[ -n "$what" ] || die "name a dataset: cifar10, multi30k, trec or sms-spam"
for tool in curl tar gzip unzip; do command -v "$tool" > /dev/null || die "$tool is not installed (apt-get install $tool)"; done
mkdir -p "$dest"
tmp="$(mktemp -d "$dest/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
get() { curl -fL --retry 3 --progress-bar -o "$2" "$1" || die "could not download $1"; }
case "$what" in
  cifar10)
    get https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz "$tmp/cifar.tar.gz"
    tar -xzf "$tmp/cifar.tar.gz" -C "$tmp"
    rm -rf "$dest/cifar-10-batches-bin" && mv "$tmp/cifar-10-batches-bin" "$dest/"
    echo "$dest/cifar-10-batches-bin" ;;
  multi30k)
    base=https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw
    mkdir -p "$tmp/multi30k"
    for f in train.de train.en val.de val.en; do
      get "$base/$f.gz" "$tmp/$f.gz" && gzip -dc "$tmp/$f.gz" > "$tmp/multi30k/$f"
    done
    rm -rf "$dest/multi30k" && mv "$tmp/multi30k" "$dest/"
    echo "$dest/multi30k" ;;
  trec)
    mkdir -p "$tmp/trec"
    get https://cogcomp.seas.upenn.edu/Data/QA/QC/train_5500.label "$tmp/trec/train_5500.label"
    rm -rf "$dest/trec" && mv "$tmp/trec" "$dest/"
    echo "$dest/trec/train_5500.label" ;;
  sms-spam)
    get https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip "$tmp/sms.zip"
    mkdir -p "$tmp/sms-spam" && unzip -q -o "$tmp/sms.zip" SMSSpamCollection -d "$tmp/sms-spam"
    rm -rf "$dest/sms-spam" && mv "$tmp/sms-spam" "$dest/"
    echo "$dest/sms-spam/SMSSpamCollection" ;;
  *) die "unknown dataset '$what' (cifar10, multi30k, trec or sms-spam)" ;;
esac
