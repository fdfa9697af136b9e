#!/usr/bin/env python3
"""Writes metrics.json: sacreBLEU's corpus BLEU (default: 13a, exp smoothing, cased), lowercased BLEU and chrF on
small corpora that exercise the tokenizer's rules (punctuation, digits with . , -, entities, Unicode, empty lines).
Run with sacrebleu installed: `python3 Tests/AttentionKitTests/Fixtures/generate_metric_fixtures.py`."""
import json
import os
import random

import sacrebleu

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
random.seed(0)
refs = open(os.path.join(ROOT, "..", "corpora", "multi30k-sample", "train.en"), encoding="utf-8").read().splitlines()[:200]


def perturb(s):
    words = s.split()
    ops = random.random()
    if ops < 0.2 and len(words) > 3:
        del words[random.randrange(len(words))]
    elif ops < 0.4:
        words.insert(random.randrange(len(words) + 1), random.choice(["the", "a", "dog", "Männer", "é", "1,000", "3.5", "x-ray"]))
    elif ops < 0.6 and len(words) > 2:
        i = random.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    elif ops < 0.7:
        words = [w.upper() if random.random() < 0.3 else w for w in words]
    return " ".join(words)


cases = []
cases.append({"name": "multi30k_perturbed", "hyp": [perturb(r) for r in refs], "ref": refs})
tricky_ref = ["He paid $1,000.50 for it, didn't he?", "A man (in red) walks -- fast.", "Tom &amp; Jerry &quot;run&quot; &lt;home&gt;",
              "Ein Mann fährt Fahrrad.", "The 3-year-old's toy costs 5-10 dollars.", "Ünïcödé   spaces\u00a0and\u2003more\ttabs",
              "Zwei Hunde spielen im Schnee.", "numbers 1.5, 2,5 and .5 or 5.", "", "日本語のテキスト、句読点。", "emoji 🙂 test 👍🏽!"]
tricky_hyp = ["He paid $1,000.50 for it , did n't he ?", "A man (in blue) walks - fast.", "Tom & Jerry \"run\" <home>",
              "Ein Mann faehrt Fahrrad.", "The 3-year-old toy costs 5 - 10 dollars.", "Ünïcödé spaces and more tabs",
              "zwei Hunde spielen im Schnee .", "numbers 1.5 , 2,5 and .5 or 5 .", "something", "日本語のテキスト、句読点。", "emoji 🙂 test 👍🏽 !"]
cases.append({"name": "tokenizer_rules", "hyp": tricky_hyp, "ref": tricky_ref})
cases.append({"name": "short_no_4grams", "hyp": ["a dog", "cat"], "ref": ["a dog runs", "the cat"]})
cases.append({"name": "nothing_matches", "hyp": ["xyz qqq"], "ref": ["a b c d"]})
for c in cases:
    c["bleu"] = sacrebleu.corpus_bleu(c["hyp"], [c["ref"]]).score
    c["bleu_lowercase"] = sacrebleu.corpus_bleu(c["hyp"], [c["ref"]], lowercase=True).score
    c["chrf"] = sacrebleu.corpus_chrf(c["hyp"], [c["ref"]]).score
tok = sacrebleu.tokenizers.tokenizer_13a.Tokenizer13a()
lines = tricky_ref + tricky_hyp + refs[:50] + ["a.b,c 1.2,3 x.5 5.x -1- 1-2 {~}[`] !&'()*+:;<=>?@/", "end.", ",start"]
out = {"cases": cases, "tokenize13a": [[l, tok(l)] for l in lines], "sacrebleu_version": sacrebleu.__version__}
with open(os.path.join(HERE, "metrics.json"), "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=0)
print({c["name"]: (round(c["bleu"], 4), round(c["chrf"], 4)) for c in cases})
