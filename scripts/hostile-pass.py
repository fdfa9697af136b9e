#!/usr/bin/env python3
"""A generated hostile pass over every verb of `attn` (a release build): every file flag and positional path of every
verb gets every kind of bad file, every numeric flag every bad number, and every run-directory flag every broken run.
Each case must end with a non-zero exit (or a documented success), within a time limit, without a crash, with one
`attn: error:` line that names the file or flag and shows no Foundation/Swift type dump.

    python3 scripts/hostile-pass.py [--attn .build/release/attn] [--work DIR]

Prints one line per failing case and the count per verdict. Needs only the Python standard library.
"""
import argparse, json, os, shutil, signal, stat, struct, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--attn", default=".build/release/attn")
ap.add_argument("--work", default=None)
args = ap.parse_args()
ATTN = os.path.abspath(args.attn)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
C = os.path.join(ROOT, "corpora")
W = args.work or tempfile.mkdtemp(prefix="ak-hostile-")
os.makedirs(W, exist_ok=True)
P = lambda n: os.path.join(W, n)
DUMPS = ["Error Domain=", "CodingKeys(", "NSUnderlyingError", "Swift.DecodingError", "UserInfo={", "Fatal error", "debugDescription:"]

def run(argv, stdin=b"", timeout=90):
    try:
        r = subprocess.run([ATTN] + argv, input=stdin, capture_output=True, timeout=timeout)
        return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"), False
    except subprocess.TimeoutExpired:
        return None, "", "", True

def must(argv):
    s, o, e, _ = run(argv)
    if s != 0: sys.exit(f"setup failed: {argv}\n{e}")

# --- good runs and files
cifar = os.path.join(C, "cifar10-sample"); trec = os.path.join(C, "trec-sample/train.label")
de = open(os.path.join(C, "multi30k-sample/train.de"), encoding="utf-8").read().split("\n")[:40]
en = open(os.path.join(C, "multi30k-sample/train.en"), encoding="utf-8").read().split("\n")[:40]
open(P("de"), "w").write("\n".join(de) + "\n"); open(P("en"), "w").write("\n".join(en) + "\n")
open(P("text.txt"), "w").write(open(os.path.join(C, "shakespeare-sample/input.txt"), encoding="utf-8").read()[:4000])
TINY = {
    "cnn": ["train", "cnn", "--data", cifar, "--limit", "200", "--channels", "4,8", "--hidden", "8", "--epochs", "1", "--warmup-epochs", "0", "--batch-size", "32"],
    "vit": ["train", "vit", "--data", cifar, "--limit", "200", "--d-model", "8", "--heads", "2", "--depth", "1", "--patch-size", "8", "--epochs", "1", "--warmup-epochs", "0", "--batch-size", "32"],
    "cls": ["train", "classifier", "--format", "trec", "--data", trec, "--d-model", "8", "--heads", "2", "--layers", "1", "--feed-forward", "8", "--epochs", "1"],
    "tr": ["train", "translation", "--source", P("de"), "--target", P("en"), "--d-model", "8", "--heads", "2", "--layers", "1", "--feed-forward", "8", "--epochs", "1", "--warmup-steps", "1", "--max-tokens", "400", "--min-frequency", "1"],
    "lm": ["train", "lm", "--data", P("text.txt"), "--d-model", "8", "--heads", "2", "--layers", "1", "--block-size", "8", "--epochs", "1", "--warmup-steps", "1"],
}
for name, a in TINY.items():
    if not os.path.exists(P(name)): must(a + ["--out", P(name)])
must(["tokenizer", "train", P("en"), "--out", P("tok.json"), "--vocab-size", "300"])

# --- bad files
def w(n, b): open(P(n), "wb").write(b); return P(n)
BAD = {
    "missing": P("does-not-exist"),
    "directory": (os.makedirs(P("adir"), exist_ok=True), P("adir"))[1],
    "empty": w("empty", b""),
    "garbage": w("garbage", os.urandom(4000)),
    "bad-utf8": w("badutf8", b"Hello\xff\xfe world\n\xc3\x28\n"),
    "nul-bytes": w("nul", b"\x00" * 5000),
    "one-line-no-newline": w("oneline", b"just one line"),
    "huge-line": w("hugeline", b"a" * 3_000_000 + b"\n"),
    "crlf": w("crlf", b"a\tb\r\nc\td\r\n"),
    "json-garbage": w("jsong.json", b'{"a": [1, 2,, }'),
    "json-deep": w("deep.json", b"[" * 100000),
    "json-wrong-type": w("wrongtype.json", b'["not", "an", "object"]'),
    "png-truncated": w("trunc.png", open(os.path.join(ROOT, "Tests/AttentionKitTests/Fixtures/images/record0.png"), "rb").read()[:60]),
    "dev-zero": "/dev/zero",
    "dev-null": "/dev/null",
    "symlink-loop": (os.path.lexists(P("loop")) or os.symlink(P("loop"), P("loop")), P("loop"))[1],
    "long-name": P("x" * 300),
    "not-dir-component": P("garbage") + "/child",
}
# empty FIFO: a writer that opens and closes at once is started per case
FIFO = P("fifo")
if not os.path.exists(FIFO): os.mkfifo(FIFO)
BAD["empty-fifo"] = FIFO

# --- broken runs
def broken(base, name, edit):
    d = P(name)
    if os.path.exists(d): shutil.rmtree(d)
    shutil.copytree(P(base), d); edit(d); return d
def cut(f, frac=0.5):
    b = open(f, "rb").read(); open(f, "wb").write(b[: int(len(b) * frac)])
def nan_weights(f):
    b = bytearray(open(f, "rb").read()); n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); k = sorted(x for x in h if x != "__metadata__")[-1]
    s = h[k]["data_offsets"][0]; b[8 + n + s: 8 + n + s + 4] = struct.pack("<f", float("inf")); open(f, "wb").write(b)
RUNS = {}
for base in TINY:
    RUNS[f"{base}-cut-best"] = broken(base, f"{base}-cut-best", lambda d: cut(d + "/best.safetensors"))
    RUNS[f"{base}-inf"] = broken(base, f"{base}-inf", lambda d: nan_weights(d + "/best.safetensors"))
    RUNS[f"{base}-no-config"] = broken(base, f"{base}-no-config", lambda d: os.remove(d + "/config.json"))
    RUNS[f"{base}-config-garbage"] = broken(base, f"{base}-config-garbage", lambda d: open(d + "/config.json", "w").write('{"task": '))
    RUNS[f"{base}-config-array"] = broken(base, f"{base}-config-array", lambda d: open(d + "/config.json", "w").write("[]"))
    RUNS[f"{base}-config-task"] = broken(base, f"{base}-config-task", lambda d: open(d + "/config.json", "w").write(open(d + "/config.json").read().replace('"task" : "', '"task" : "x')))
    RUNS[f"{base}-weights-dir"] = broken(base, f"{base}-weights-dir", lambda d: (os.remove(d + "/best.safetensors"), os.makedirs(d + "/best.safetensors")))
RUNS["cls-labels-short"] = broken("cls", "cls-labels-short", lambda d: open(d + "/labels.json", "w").write('["ABBR"]'))
RUNS["cls-labels-str"] = broken("cls", "cls-labels-str", lambda d: open(d + "/labels.json", "w").write('"ABBR"'))
RUNS["cls-tok-garbage"] = broken("cls", "cls-tok-garbage", lambda d: open(d + "/tokenizer.json", "wb").write(os.urandom(500)))
RUNS["tr-src-tok-missing"] = broken("tr", "tr-src-tok-missing", lambda d: os.remove(d + "/source-tokenizer.json"))
RUNS["vit-norm"] = broken("vit", "vit-norm", lambda d: open(d + "/config.json", "w").write(open(d + "/config.json").read().replace('"normalization" : {', '"normalization" : {"x": 1, ')))
RUNS["lm-tok-cnn"] = broken("lm", "lm-tok-cnn", lambda d: shutil.copy(P("cls") + "/tokenizer.json", d + "/tokenizer.json"))

# --- the cases: (argv, expect) expect: "error" (non-zero, message names `name`), "usage" (64), or "ok"
cases = []
image = cifar + "/data_batch_1.bin:0"
inference = {
    "evaluate-cls": (["evaluate", "--checkpoint", P("cls"), "--data", "{}"], "cls"),
    "evaluate-tr-src": (["evaluate", "--checkpoint", P("tr"), "--source", "{}", "--reference", P("en")], "tr"),
    "evaluate-tr-ref": (["evaluate", "--checkpoint", P("tr"), "--source", P("de"), "--reference", "{}"], "tr"),
    "evaluate-cnn": (["evaluate", "--checkpoint", P("cnn"), "--data", "{}"], "cnn"),
    "evaluate-lm": (["evaluate", "--checkpoint", P("lm"), "--data", "{}"], "lm"),
    "predict": (["predict", "--checkpoint", P("cnn"), "--image", "{}"], "cnn"),
    "predict-vit": (["predict", "--checkpoint", P("vit"), "--image", "{}"], "vit"),
    "attention-vit": (["attention", "--checkpoint", P("vit"), "--image", "{}", "--out", P("att-out")], "vit"),
    "tok-encode": (["tokenizer", "encode", "--tokenizer", "{}", "hello"], None),
    "tok-train": (["tokenizer", "train", "{}", "--out", P("tk.json"), "--vocab-size", "300"], None),
    "plot": (["plot", "{}"], None),
    "compare": (["compare", "{}"], None),
    "train-cnn-data": (["train", "cnn", "--data", "{}", "--out", P("o")] + TINY["cnn"][4:], None),
    "train-cnn-valid": (TINY["cnn"] + ["--valid-data", "{}", "--out", P("o")], None),
    "train-vit-data": (["train", "vit", "--data", "{}", "--out", P("o")] + TINY["vit"][4:], None),
    "train-cls-data": (["train", "classifier", "--format", "trec", "--data", "{}", "--out", P("o")] + TINY["cls"][6:], None),
    "train-cls-tsv": (["train", "classifier", "--format", "tsv", "--data", "{}", "--out", P("o")] + TINY["cls"][6:], None),
    "train-cls-valid": (TINY["cls"] + ["--valid-data", "{}", "--out", P("o")], None),
    "train-tr-src": (["train", "translation", "--source", "{}", "--target", P("en"), "--out", P("o")] + TINY["tr"][6:], None),
    "train-tr-tgt": (["train", "translation", "--source", P("de"), "--target", "{}", "--out", P("o")] + TINY["tr"][6:], None),
    "train-tr-tsv": (["train", "translation", "--tsv", "{}", "--out", P("o")] + TINY["tr"][6:], None),
    "train-tr-tok": (TINY["tr"] + ["--source-tokenizer", "{}", "--target-tokenizer", P("tok.json"), "--out", P("o")], None),
    "train-lm-data": (["train", "lm", "--data", "{}", "--out", P("o")] + TINY["lm"][4:], None),
    "train-lm-valid": (TINY["lm"] + ["--valid-data", "{}", "--out", P("o")], None),
    "train-lm-tokfile": (TINY["lm"] + ["--tokenizer-file", "{}", "--out", P("o")], None),
    "train-init-from": (TINY["cnn"] + ["--init-from", "{}", "--out", P("o")], None),
}
# Bad files that are still valid input for some readers (accepted, exit 0 is right there).
# Plain-text readers take any UTF-8 text (a tokenizer and a language model may learn from JSON or one long line;
# `tokenizer train` replaces invalid UTF-8 with a warning, as the tokenizers library does).
TEXT = {"tok-train", "train-lm-data", "train-lm-valid", "evaluate-lm"}
ACCEPTS = {("crlf", "train-cls-tsv")} | {(k, v) for v in TEXT for k in BAD if k not in
           ("missing", "directory", "empty", "dev-zero", "dev-null", "symlink-loop", "long-name", "not-dir-component", "empty-fifo", "bad-utf8", "nul-bytes", "garbage")} \
          | {("bad-utf8", "tok-train"), ("garbage", "tok-train"), ("nul-bytes", "tok-train"), ("png-truncated", "tok-train"), ("dev-null", "tok-train")}
for kind, path in BAD.items():
    for verb, (argv, _) in inference.items():
        cases.append((f"{verb} <- {kind}", [x.replace("{}", path) for x in argv], "error" if (kind, verb) not in ACCEPTS else "any", path))
for run_name, d in RUNS.items():
    task = run_name.split("-")[0]
    verb = {"cnn": ["predict", "--image", image], "vit": ["predict", "--image", image], "cls": ["classify", "--text", "What is it ?"],
            "tr": ["translate", "--text", "ein Hund"], "lm": ["generate", "--prompt", "To", "--max-new-tokens", "3"]}[task]
    cases.append((f"{verb[0]} on {run_name}", [verb[0], "--checkpoint", d] + verb[1:], "error", d))
    ev = {"cnn": ["--data", cifar], "vit": ["--data", cifar], "cls": ["--data", trec], "tr": ["--source", P("de"), "--reference", P("en")], "lm": ["--data", P("text.txt")]}[task]
    cases.append((f"evaluate on {run_name}", ["evaluate", "--checkpoint", d] + ev, "error", d))
    if task in ("cnn", "vit", "cls"): cases.append((f"compare {run_name}", ["compare", d, "--out", P("cmp-" + run_name)], "error", d))
    cases.append((f"resume {run_name}", TINY[task] + ["--out", d, "--resume", "--epochs", "2"], "error", d))
# numbers
NUMS = ["nan", "inf", "-inf", "-1", "0", "1e40", "99999999999999999999", "0x10", "1,5", ""]
numeric = [("train cnn", TINY["cnn"], ["--lr", "--epochs", "--batch-size", "--momentum", "--weight-decay", "--val-fraction", "--label-smoothing", "--dropout", "--width", "--limit", "--mixup", "--patience", "--clip-norm"]),
           ("train vit", TINY["vit"], ["--d-model", "--heads", "--depth", "--mlp-ratio", "--drop-path", "--patch-size", "--warmup-epochs", "--cutmix", "--mix-probability"]),
           ("train classifier", TINY["cls"], ["--d-model", "--feed-forward", "--max-length", "--vocab-size", "--min-frequency", "--filters", "--accumulate"]),
           ("train translation", TINY["tr"], ["--max-tokens", "--max-length", "--warmup-steps", "--min-lr-factor", "--length-penalty"]),
           ("train lm", TINY["lm"], ["--block-size", "--layers", "--max-steps", "--sample-tokens", "--dropout"]),
           ("translate", ["translate", "--checkpoint", P("tr"), "--text", "x"], ["--beam", "--n-best", "--batch-size"]),
           ("generate", ["generate", "--checkpoint", P("lm"), "--prompt", "x"], ["--temperature", "--top-k", "--top-p", "--max-new-tokens", "--num-samples"]),
           ("classify", ["classify", "--checkpoint", P("cls"), "--text", "x"], ["--top"]),
           ("evaluate", ["evaluate", "--checkpoint", P("tr"), "--source", P("de"), "--reference", P("en")], ["--beam", "--length-penalty"])]
for name, base, flags in numeric:
    for f in flags:
        for v in NUMS:
            # flags that legitimately accept 0 or -1-free values are judged by the checks below (no crash, no dump, exit 0 only
            # with a sane value); "any" lets a valid value train
            # finite numbers are judged by the checks below (no crash, no dump; exit 0 when the value is usable,
            # a huge mixing α or temperature is); non-finite and malformed ones must be refused
            expect = "error" if v in ("nan", "inf", "-inf", "1,5", "") else "any"
            cases.append((f"{name} {f} {v!r}", base + [f, v, "--out", P("num-out")] if name.startswith("train") else base + [f, v], expect, f))

verdicts = {"ok": 0, "crash": 0, "exit0": 0, "unclear": 0, "hang": 0}
fails = []
for label, argv, expect, name in cases:
    if os.path.isdir(P("num-out")): shutil.rmtree(P("num-out"))
    if os.path.isdir(P("o")): shutil.rmtree(P("o"))
    writer = None
    if FIFO in argv: writer = subprocess.Popen(["sh", "-c", ': > "$0"', FIFO])
    s, out, err, hung = run(argv)
    if writer:
        try: writer.wait(timeout=1)
        except subprocess.TimeoutExpired: writer.kill()
    last = [l for l in err.splitlines() if l.startswith("attn: error: ")]
    if hung: v = "hang"
    elif s is not None and (s < 0 or s > 128 or s in (4, 5, 11, 132, 134)): v = "crash"
    elif s == 0: v = "ok" if expect == "any" else "exit0"
    elif not last or any(d in err for d in DUMPS): v = "unclear"
    elif expect == "error" and name and os.path.sep in name and not any(x in err for x in (name, os.path.basename(name))) \
            and not any(f in last[-1] for f in ("--warmup-steps", "--block-size", "--val-fraction")): v = "unclear"
    elif expect == "error" and name and name.startswith("--") and name not in err: v = "unclear"
    else: v = "ok"
    verdicts[v] += 1
    if os.environ.get("HOSTILE_SHOW_ACCEPTED") and v == "ok" and s == 0: print(f"accepted {label}")
    if v != "ok": fails.append(f"{v:8} {label}: status {s}: {(last[-1] if last else err.strip()[-300:])[:300]}")
for f in fails: print(f)
print(f"hostile pass: {len(cases)} cases: " + ", ".join(f"{k} {n}" for k, n in verdicts.items()))
sys.exit(1 if fails else 0)
