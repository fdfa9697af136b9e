#!/usr/bin/env bash
# The README's main job: builds attn, trains a small English→French transformer on the 5,000 Tatoeba pairs in
# corpora/tatoeba-eng-fra (5% held out, seeded) in about two minutes on 2 cores, scores the held-out pairs with
# sacreBLEU-exact BLEU, prints translations beside their references, translates a few new sentences, and prints
# where the run directory is. Usage: bash scripts/quickstart.sh [RUN_DIR]   (default: runs/quickstart-DATE)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product attn
out="${1:-runs/quickstart-$(date +%Y%m%d-%H%M%S)}"
attn=.build/release/attn
echo "== training (run directory $out)"
$attn train translation --tsv corpora/tatoeba-eng-fra/eng-fra.txt --columns 1,2 --val-fraction 0.05 --out "$out" \
  --epochs 25 --d-model 128 --heads 4 --layers 2 --feed-forward 256 --warmup-steps 100 --max-tokens 2000 --min-frequency 1
echo
echo "== held-out pairs (never trained on), beam 5"
$attn evaluate --checkpoint "$out" --source "$out/validation.source" --reference "$out/validation.target" --beam 5 \
  --output "$out/validation.translation" | tail -3
echo
paste "$out/validation.source" "$out/validation.target" "$out/validation.translation" | sed -n '20,34p' |
  awk -F'\t' '{ printf "  %-28s  reference: %-30s  ours: %s\n", $1, $2, $3 }'
echo
echo "== new sentences"
$attn translate --checkpoint "$out" --text "I love you." --text "Where is the station?" --text "We are happy." \
  --text "The cat is sleeping." | paste <(printf '%s\n' "I love you." "Where is the station?" "We are happy." "The cat is sleeping.") - |
  awk -F'\t' '{ printf "  %-28s → %s\n", $1, $2 }'
$attn attention --checkpoint "$out" --text "I love you." --out "$out/attention" > /dev/null
echo
echo "attention maps of \"I love you.\": $out/attention/maps.json (one LAYER.npy per layer, numpy.load reads them)"
echo "attention report (open in a browser): $out/attention/index.html"
echo "run directory: $out (metrics.csv, curves.png, best.safetensors, tokenizers; attn translate --checkpoint $out)"
