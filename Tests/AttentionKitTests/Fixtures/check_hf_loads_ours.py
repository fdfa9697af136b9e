#!/usr/bin/env python3
"""Manual interoperability check (needs `tokenizers` and a release build): trains tokenizers with `attn tokenizer
train`, loads them with Hugging Face `tokenizers`, and compares ids with `attn tokenizer encode`.
Run from the repository root: python3 Tests/AttentionKitTests/Fixtures/check_hf_loads_ours.py"""
import subprocess
import sys
import tempfile

from tokenizers import Tokenizer

attn = ".build/release/attn"
texts = ["Ein Mann fährt Fahrrad 🙂", "Two Dogs, playing in the SNOW!", "naïve café — 東京"]
ok = True
with tempfile.TemporaryDirectory() as d:
    for name, args in [("bytelevel", []), ("whitespace", ["--pre-tokenizer", "whitespace", "--lowercase"]),
                       ("word", ["--model", "word", "--pre-tokenizer", "whitespace"])]:
        path = f"{d}/{name}.json"
        subprocess.run([attn, "tokenizer", "train", "corpora/multi30k-sample/train.en", "corpora/multi30k-sample/train.de",
                        "--vocab-size", "600", "--out", path, *args], check=True, capture_output=True)
        hf = Tokenizer.from_file(path)
        for text in texts:
            out = subprocess.run([attn, "tokenizer", "encode", "--tokenizer", path, text], check=True, capture_output=True, text=True).stdout
            ours = [int(x) for x in out.split("\n")[1].split()[1:]]
            theirs = hf.encode(text, add_special_tokens=False).ids
            print(f"{name:10s} {'same' if ours == theirs else 'DIFFERENT'}  {text}")
            ok &= ours == theirs
sys.exit(0 if ok else 1)
