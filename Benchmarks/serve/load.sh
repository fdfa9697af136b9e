#!/usr/bin/env bash
# Load test of `attn serve` (and, when Benchmarks/serve/twin.py's Python packages are there, its FastAPI + PyTorch
# twin serving the same architectures): translate and classify at 1, 8 and 64 connections for $SECONDS_EACH seconds
# each on loopback, with wrk (Debian: apt-get install wrk). Prints one JSON line per (server, endpoint, connections)
# with requests/s, p50/p99 latency and errors, and the server's RSS after warm-up and at the end.
# Usage: bash Benchmarks/serve/load.sh TRANSLATION_RUN CLASSIFIER_RUN [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/../.."
tr_run=$1 cls_run=$2 python=${3:-}
secs=${SECONDS_EACH:-30}
command -v wrk > /dev/null || { echo "load.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
attn=.build/release/attn
[ -x "$attn" ] || swift build -c release --product attn
sentence='Ein Mann mit einem roten Hut fährt mit dem Fahrrad durch die Stadt.'
question='What is the capital of the country with the largest population in Europe ?'

rss() { awk '/VmRSS/ {print $2 / 1024}' "/proc/$1/status"; }

measure() {  # name port pid
    local name=$1 port=$2 pid=$3
    until curl -sf "localhost:$port/healthz" > /dev/null; do sleep 0.2; done
    # warm-up
    BODY="{\"text\": \"$sentence\", \"beam\": 5}" wrk -t1 -c1 -d3s -s Benchmarks/serve/load.lua "http://127.0.0.1:$port/v1/translate" > /dev/null
    local warm; warm=$(rss "$pid")
    for endpoint in translate classify; do
        if [ $endpoint = translate ]; then body="{\"text\": \"$sentence\", \"beam\": 5}"; else body="{\"text\": \"$question\"}"; fi
        for c in 1 8 64; do
            line=$(BODY="$body" wrk -t$(( c < 2 ? 1 : 2 )) -c$c -d${secs}s --timeout 30s -s Benchmarks/serve/load.lua \
                "http://127.0.0.1:$port/v1/$endpoint" | grep '^{')
            echo "{\"server\": \"$name\", \"endpoint\": \"$endpoint\", \"connections\": $c, ${line:1}"
        done
    done
    echo "{\"server\": \"$name\", \"rss_mb_after_warmup\": $warm, \"rss_mb_end\": $(rss "$pid")}"
    kill "$pid"; wait "$pid" || true
}

$attn serve --checkpoint "$tr_run" --checkpoint "$cls_run" --port 8766 --queue 1024 > /dev/null &
measure attn 8766 $!
if [ -n "$python" ]; then
    "$python" Benchmarks/serve/twin.py --translation "$tr_run" --classifier "$cls_run" --port 8767 &
    measure fastapi-torch 8767 $!
fi
