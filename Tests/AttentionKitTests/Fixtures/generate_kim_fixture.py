#!/usr/bin/env python3
"""Generates kim_clean_str.json: for TREC-style questions and edge cases, the pieces of
- Kim's (2014) clean_str (github.com/yoonkim/CNN_sentence, process_data.py; TREC=True keeps case), with its
  replacements " \\( ", " \\) ", " \\? " read as " ( ", " ) ", " ? " (the backslash Python keeps there is an accident
  of the regex replacement strings, not a token Kim meant), split on whitespace;
- the Hugging Face pre-tokenizer Sequence that attn writes for `--pre-tokenizer kim` (tokenizers' pre_tokenize_str),
  which must give the same pieces (with character offsets, converted to UTF-8 bytes).
Run: python3 Tests/AttentionKitTests/Fixtures/generate_kim_fixture.py   (pip install tokenizers)"""
import json
import os
import re

import tokenizers
from tokenizers import Regex, pre_tokenizers

here = os.path.dirname(os.path.abspath(__file__))


def clean_str(string):
    string = re.sub(r"[^A-Za-z0-9(),!?\'\`]", " ", string)
    string = re.sub(r"\'s", " \'s", string)
    string = re.sub(r"\'ve", " \'ve", string)
    string = re.sub(r"n\'t", " n\'t", string)
    string = re.sub(r"\'re", " \'re", string)
    string = re.sub(r"\'d", " \'d", string)
    string = re.sub(r"\'ll", " \'ll", string)
    string = re.sub(r",", " , ", string)
    string = re.sub(r"!", " ! ", string)
    string = re.sub(r"\(", " ( ", string)
    string = re.sub(r"\)", " ) ", string)
    string = re.sub(r"\?", " ? ", string)
    string = re.sub(r"\s{2,}", " ", string)
    return string.strip()


hf = pre_tokenizers.Sequence([
    pre_tokenizers.Split(Regex("[^A-Za-z0-9(),!?'`]+"), behavior="removed"),
    pre_tokenizers.Split(Regex("[(),!?]"), behavior="isolated"),
    pre_tokenizers.Split(Regex("'s|'ve|n't|'re|'d|'ll"), behavior="merged_with_next"),
])

texts = ["What 's the capital of Sri Lanka ?", "How did serfdom develop in and then leave Russia ?",
         "Who wrote `` The Pit and the Pendulum '' ?", "What does it mean when you don't know (or can't say) it's 3:15 p.m.?",
         "I'd say we'll go, they're sure, you've won!", "Ünïcödé café — 東京 naïve x²", "  spaces\tand\nnewlines  ",
         "doesn't isn't 's 'sun n'tx", "e-mail U.S.A. $1,000 50% #1 a/b", "", "???", "''"]
cases = []
for t in texts:
    pieces = hf.pre_tokenize_str(t)
    b = [0]
    for ch in t:
        b.append(b[-1] + len(ch.encode("utf-8")))
    cases.append({"text": t, "clean_str": clean_str(t).split(), "hf": [p for p, _ in pieces],
                  "hf_offsets": [[b[s], b[e]] for _, (s, e) in pieces]})
with open(os.path.join(here, "kim_clean_str.json"), "w", encoding="utf-8") as f:
    json.dump({"generator": "generate_kim_fixture.py", "tokenizers": tokenizers.__version__, "cases": cases}, f, ensure_ascii=False, indent=1)
for c in cases:
    print("same" if c["clean_str"] == c["hf"] else "DIFFERENT", c["text"], c["clean_str"], c["hf"])
