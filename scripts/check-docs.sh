#!/usr/bin/env bash
# Documentation gate (CI): every public declaration of the library has a `///` comment (swift-format's
# AllPublicDeclarationsHaveDocumentation rule, the only rule enabled in scripts/doc-coverage.swift-format.json), and
# the DocC catalog builds without a warning (broken symbol links, parameters that do not match their signature,
# missing tutorial files). Usage: bash scripts/check-docs.sh [--no-docc]
set -euo pipefail
cd "$(dirname "$0")/.."
missing=$(swift format lint --recursive --parallel --configuration scripts/doc-coverage.swift-format.json \
    Sources/AttentionKit 2>&1 | grep '\[AllPublicDeclarationsHaveDocumentation\]' || true)
if [ -n "$missing" ]; then
    echo "$missing"
    echo "check-docs: $(echo "$missing" | wc -l) public declarations lack a documentation comment" >&2
    exit 1
fi
echo "check-docs: every public declaration of AttentionKit is documented"
[ "${1:-}" = "--no-docc" ] && exit 0
# SwiftPM's own "prohibited flag(s): -pthread" warning (from Open MPI's pkg-config) is not ours; DocC's are.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! swift package generate-documentation --target AttentionKit --warnings-as-errors >"$log" 2>&1; then
    cat "$log"; echo "check-docs: the DocC build failed" >&2; exit 1
fi
if grep 'warning:' "$log" | grep -v 'prohibited flag' ; then
    echo "check-docs: the DocC build has warnings" >&2; exit 1
fi
echo "check-docs: the DocC catalog builds without warnings"
