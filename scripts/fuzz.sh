#!/usr/bin/env bash
# A longer run of the suite's seeded mutation fuzzers (Tests/AttentionKitTests/FuzzTests.swift): N cases per reader
# (safetensors, training states, model files, tokenizer.json, CIFAR-10, parallel text, TSV, TREC, PNG, JPEG).
# Usage: scripts/fuzz.sh [N=2000] [SEED=random]. A trap ends the run; the case that caused it is in the printed
# "current-case" line, and the same N and SEED replay it. Extra `swift test` flags: SWIFT_TEST_FLAGS="--traits MPI".
set -euo pipefail
cd "$(dirname "$0")/.."
export ATTENTIONKIT_FUZZ_CASES="${1:-2000}"
export ATTENTIONKIT_FUZZ_SEED="${2:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
echo "fuzzing: $ATTENTIONKIT_FUZZ_CASES cases per reader, seed $ATTENTIONKIT_FUZZ_SEED"
# shellcheck disable=SC2086
swift test --disable-swift-testing ${SWIFT_TEST_FLAGS:-} --filter FuzzTests 2>&1 | grep -E "^fuzz |error|Executed|current case" || true
test "${PIPESTATUS[0]}" -eq 0
