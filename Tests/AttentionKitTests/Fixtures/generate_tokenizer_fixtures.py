#!/usr/bin/env python3
"""Generates tokenizer fixtures with Hugging Face `tokenizers` (pip install tokenizers):
- tokenizers.json: merges, vocabularies and encodings (ids, tokens, UTF-8 byte offsets) of BPE tokenizers trained
  on corpora/multi30k-sample lines 1-500, for held-out lines 501-600;
- hf_bytelevel_tokenizer.json: the byte-level tokenizer as HF saves it (the Swift loader must encode identically).
Run: python3 Tests/AttentionKitTests/Fixtures/generate_tokenizer_fixtures.py"""
import json
import os

import tokenizers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
en = open(os.path.join(root, "corpora/multi30k-sample/train.en"), encoding="utf-8").read().split("\n")[:600]
de = open(os.path.join(root, "corpora/multi30k-sample/train.de"), encoding="utf-8").read().split("\n")[:600]
train = en[:500] + de[:500]
held = en[500:600] + de[500:600] + ["Ünïcödé façade — naïve café 東京 🙂 x²", "  leading and  double  spaces "]
SPECIAL = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]


def byte_offsets(text, offsets):
    """HF offsets are in Python characters; convert to UTF-8 byte offsets."""
    b = [0]
    for ch in text:
        b.append(b[-1] + len(ch.encode("utf-8")))
    return [[b[s], b[e]] for s, e in offsets]


def record(tok, name, settings):
    model = json.loads(tok.to_str())["model"]
    merges = [m if isinstance(m, list) else m.split(" ") for m in model["merges"]]
    encs = []
    for t in held:
        e = tok.encode(t, add_special_tokens=False)
        encs.append({"text": t, "ids": e.ids, "tokens": e.tokens, "offsets": byte_offsets(t, e.offsets)})
    return {"name": name, "settings": settings, "vocab": model["vocab"], "merges": merges, "encodings": encs}


cases = []
# 1. byte-level BPE (GPT-2 style), no normalizer
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = tokenizers.decoders.ByteLevel()
tok.train_from_iterator(train, trainers.BpeTrainer(vocab_size=700, min_frequency=2, special_tokens=SPECIAL,
                                                   initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
cases.append(record(tok, "bytelevel_bpe", {"vocab_size": 700, "min_frequency": 2}))
tok.save(os.path.join(here, "hf_bytelevel_tokenizer.json"))

# 2. whitespace BPE with NFD + lowercase + strip accents and an unknown token
tok = Tokenizer(models.BPE(unk_token="[UNK]"))
tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()])
tok.pre_tokenizer = pre_tokenizers.Whitespace()
tok.train_from_iterator(train, trainers.BpeTrainer(vocab_size=500, min_frequency=2, special_tokens=SPECIAL, show_progress=False))
cases.append(record(tok, "whitespace_bpe_lower", {"vocab_size": 500, "min_frequency": 2}))

with open(os.path.join(here, "tokenizers.json"), "w", encoding="utf-8") as fh:
    json.dump({"generator": "generate_tokenizer_fixtures.py", "tokenizers": tokenizers.__version__, "train_lines": train,
               "cases": cases}, fh, ensure_ascii=False, separators=(",", ":"))
print("wrote", len(cases), "cases")
