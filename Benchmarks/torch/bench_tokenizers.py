#!/usr/bin/env python3
"""Twin of attn-bench bpe_encode: trains a byte-level BPE (vocab 8000) on Multi30k train.en + train.de with Hugging
Face `tokenizers`, saves it to .build-bench/multi30k-bpe8000.json (attn-bench loads the same file), and measures
HF's encode throughput on the same lines, one line at a time, with 1 thread (RAYON_NUM_THREADS=1) and with
encode_batch on all threads. Usage: python3 Benchmarks/torch/bench_tokenizers.py"""
import json
import os
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
data = os.path.join(os.path.dirname(root), "shared/data/multi30k")
lines = []
for name in ("train.en", "train.de"):
    with open(os.path.join(data, name), encoding="utf-8") as fh:
        lines += fh.read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
t0 = time.perf_counter()
tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=8000, min_frequency=2, special_tokens=["[PAD]", "[UNK]", "[BOS]", "[EOS]"],
                                                   initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
train_s = time.perf_counter() - t0
os.makedirs(os.path.join(root, ".build-bench"), exist_ok=True)
tok.save(os.path.join(root, ".build-bench/multi30k-bpe8000.json"))
nbytes = sum(len(l.encode("utf-8")) + 1 for l in lines)


def best_of(fn, runs=3):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


one = best_of(lambda: [tok.encode(l, add_special_tokens=False) for l in lines])
batch = best_of(lambda: tok.encode_batch(lines, add_special_tokens=False))
tokens = sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))
print(json.dumps({"workload": "bpe_encode_multi30k", "mb_per_s": round(nbytes / 1e6 / one, 3), "threads": 1,
                  "batch_mb_per_s_rayon": round(nbytes / 1e6 / batch, 3), "rayon_threads": os.environ["RAYON_NUM_THREADS"],
                  "lines": len(lines), "tokens": tokens, "train_seconds": round(train_s, 2)}))
