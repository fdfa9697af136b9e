#!/usr/bin/env python3
"""CTranslate2 twin of `attn translate` (issue 27): a trained run's transformer (its best.safetensors and tokenizer
files) converted to a CTranslate2 TransformerSpec with the spec API — numpy weights, no download — then the same
source sentences translated by both engines with beam 5, at fp32 and at int8 (`attn translate --int8`; CTranslate2's
compute_type int8). Prints one JSON line per engine and precision ({"engine", "compute_type", "sentences",
"sent_per_s", "seconds", "peak_rss_mb", "same_as_attn"}) and the share of sentences on which the two produce the same
tokens (a cross-check of our decoder): both score beams by their raw log-probability (--length-penalty 0: the two
engines normalise lengths by different formulas) and finish a sentence when 5 hypotheses have ended (CTranslate2's
patience 1, Hugging Face's rule, which `attn` follows).

Each side is timed in a process of its own from start to last translation (model loading included: 0.1–0.5 s of
the total), alternating which goes first, ROUNDS times; the medians are reported.

Usage: python3 Benchmarks/ctranslate2_twin.py RUN --source ../shared/data/multi30k/val.de [--limit 1000]
           [--rounds 3] [--beam 5] [--threads 2]
Needs: pip install ctranslate2 tokenizers safetensors numpy; swift build -c release --product attn."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runconfig import run_config  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch"))
from timing import peak_rss_mb  # noqa: E402


def convert(run, out_dir):
    """The run's Seq2SeqTransformer as a CTranslate2 model directory (fp32 weights; int8 is chosen at load time)."""
    import ctranslate2
    from ctranslate2.specs import common_spec, transformer_spec
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    c = run_config(run)["model"]
    w = load_file(os.path.join(run, "best.safetensors"))
    assert c["positions"] == "sinusoidal", "the twin converts sinusoidal positions only"
    act = {"relu": common_spec.Activation.RELU, "gelu": common_spec.Activation.GELU}[c["activation"]]
    spec = transformer_spec.TransformerSpec.from_config(
        (c["encoder_layers"], c["decoder_layers"]), c["heads"], pre_norm=c["norm_first"], activation=act)

    def linear(s, name):
        s.weight = w[name + ".weight"]
        if name + ".bias" in w:
            s.bias = w[name + ".bias"]

    def norm(s, name):
        s.gamma, s.beta = w[name + ".weight"], w[name + ".bias"]

    d = c["d_model"]
    for side, emb in (("encoder", "sourceEmbedding"), ("decoder", "targetEmbedding")):
        s = getattr(spec, side)
        (s.embeddings[0] if side == "encoder" else s.embeddings).weight = w[emb + ".embedding.weight"]
        s.scale_embeddings = bool(c["scale_embeddings"])
        s.position_encodings.encodings = w[emb + ".positions.pe"][: c["max_length"]]
        if c["norm_first"]:
            norm(s.layer_norm, side + ".norm")
        for i, layer in enumerate(s.layer):
            p = f"{side}.layers.{i}"
            linear(layer.self_attention.linear[0], p + ".selfAttention.inProjection")
            linear(layer.self_attention.linear[1], p + ".selfAttention.outProjection")
            norm(layer.self_attention.layer_norm, p + ".norm1")
            if side == "decoder":
                q = p + ".crossAttention.inProjection"
                layer.attention.linear[0].weight, layer.attention.linear[0].bias = w[q + ".weight"][:d], w[q + ".bias"][:d]
                layer.attention.linear[1].weight, layer.attention.linear[1].bias = w[q + ".weight"][d:], w[q + ".bias"][d:]
                linear(layer.attention.linear[2], p + ".crossAttention.outProjection")
                norm(layer.attention.layer_norm, p + ".norm2")
                norm(layer.ffn.layer_norm, p + ".norm3")
            else:
                norm(layer.ffn.layer_norm, p + ".norm2")
            linear(layer.ffn.linear_0, p + ".linear1")
            linear(layer.ffn.linear_1, p + ".linear2")
    linear(spec.decoder.projection, "outputProjection")
    if "outputProjection.weight" not in w:
        spec.decoder.projection.weight = w["targetEmbedding.embedding.weight"]

    def vocabulary(name):
        vocab = Tokenizer.from_file(os.path.join(run, name)).get_vocab()
        return [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]

    spec.register_source_vocabulary(vocabulary("source-tokenizer.json"))
    spec.register_target_vocabulary(vocabulary("target-tokenizer.json"))
    spec.config.unk_token, spec.config.bos_token, spec.config.eos_token = "[UNK]", "[BOS]", "[EOS]"
    spec.config.decoder_start_token = "[BOS]"
    spec.config.layer_norm_epsilon = 1e-5
    spec.validate()
    spec.optimize()
    os.makedirs(out_dir, exist_ok=True)
    spec.save(out_dir)
    return ctranslate2.__version__


def ct2_side(args):
    """One timed CTranslate2 run (in its own process): prints its JSON line and writes the token lists."""
    start = time.perf_counter()
    import ctranslate2
    from tokenizers import Tokenizer

    src_tok = Tokenizer.from_file(os.path.join(args.run, "source-tokenizer.json"))
    lines = [l.rstrip("\n") for l in open(args.source, encoding="utf-8")][: args.limit]
    translator = ctranslate2.Translator(args.model_dir, device="cpu", compute_type=args.compute_type,
                                        inter_threads=1, intra_threads=args.threads)
    batches = [src_tok.encode(l, add_special_tokens=False).tokens + ["[EOS]"] for l in lines]
    longest = max(len(b) for b in batches)
    results = translator.translate_batch(batches, beam_size=args.beam, length_penalty=0, max_batch_size=64,
                                         max_decoding_length=longest * 3 // 2 + 10, min_decoding_length=1, patience=1)
    seconds = time.perf_counter() - start
    with open(args.tokens_out, "w", encoding="utf-8") as fh:
        for r in results:
            fh.write(" ".join(t for t in r.hypotheses[0] if t != "[EOS]") + "\n")
    print(json.dumps({"engine": "ctranslate2 " + ctranslate2.__version__, "compute_type": args.compute_type,
                      "sentences": len(lines), "seconds": seconds, "sent_per_s": len(lines) / seconds,
                      "peak_rss_mb": round(peak_rss_mb(), 1)}), flush=True)


def attn_side(run, source, limit, beam, int8, out):
    lines = [l.rstrip("\n") for l in open(source, encoding="utf-8")][:limit]
    # best: the weights the twin converts, whatever the run's generation_config.json names
    cmd = [os.path.join(ROOT, ".build/release/attn"), "translate", "--checkpoint", run, "--weights", "best",
           "--beam", str(beam), "--length-penalty", "0"] + (["--int8"] if int8 else [])
    start = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, input="\n".join(lines) + "\n", capture_output=True,
                       text=True, env=dict(os.environ, OMP_NUM_THREADS="2"))
    seconds = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"attn translate failed: {p.stderr[-2000:]}")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(p.stdout)
    rss = int(p.stderr.strip().splitlines()[-1]) / 1024
    return {"engine": "attn", "compute_type": "int8" if int8 else "float32", "sentences": len(lines),
            "seconds": seconds, "sent_per_s": len(lines) / seconds, "peak_rss_mb": round(rss, 1)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--source", required=True)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ct2-side", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    p.add_argument("--compute-type", default="float32", help=argparse.SUPPRESS)
    p.add_argument("--tokens-out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.ct2_side:
        return ct2_side(args)
    from tokenizers import Tokenizer

    work = tempfile.mkdtemp(prefix="ct2-twin-")
    model_dir = os.path.join(work, "model")
    convert(args.run, model_dir)
    tgt_tok = Tokenizer.from_file(os.path.join(args.run, "target-tokenizer.json"))
    rows = []
    for compute_type in ("float32", "int8"):
        ours, theirs = [], []
        for r in range(args.rounds):
            order = ("attn", "ct2") if r % 2 == 0 else ("ct2", "attn")
            for side in order:
                if side == "attn":
                    ours.append(attn_side(args.run, args.source, args.limit, args.beam, compute_type == "int8",
                                          os.path.join(work, f"attn-{compute_type}.txt")))
                else:
                    out = subprocess.run([sys.executable, __file__, args.run, "--source", args.source, "--limit",
                                          str(args.limit), "--beam", str(args.beam), "--threads", str(args.threads),
                                          "--ct2-side", "--model-dir", model_dir, "--compute-type", compute_type,
                                          "--tokens-out", os.path.join(work, f"ct2-{compute_type}.txt")],
                                         capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="2"))
                    if out.returncode != 0:
                        sys.exit(f"ctranslate2 side failed: {out.stderr[-2000:]}")
                    theirs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        ours_text = open(os.path.join(work, f"attn-{compute_type}.txt"), encoding="utf-8").read().splitlines()
        ct2_tokens = open(os.path.join(work, f"ct2-{compute_type}.txt"), encoding="utf-8").read().splitlines()
        # attn's text leaves [UNK] out (the tokenizer decodes special tokens to nothing): compare without them
        same = sum(tgt_tok.encode(a, add_special_tokens=False).tokens == [t for t in b.split() if t != "[UNK]"]
                   for a, b in zip(ours_text, ct2_tokens))
        for side in (ours, theirs):
            line = dict(side[0])
            line["sent_per_s"] = statistics.median(x["sent_per_s"] for x in side)
            line["seconds"] = statistics.median(x["seconds"] for x in side)
            line["peak_rss_mb"] = max(x["peak_rss_mb"] for x in side)
            line["same_as_attn"] = round(same / len(ct2_tokens), 4)
            line["workload"] = "translate_beam5" + ("_int8" if compute_type == "int8" else "") + "_trained"
            rows.append(line)
            print(json.dumps(line), flush=True)
    print()
    print("| workload | attn sent/s | CTranslate2 sent/s | ratio | same tokens | peak RSS (MB) attn / CT2 |")
    print("|---|---|---|---|---|---|")
    for a, b in zip(rows[0::2], rows[1::2]):
        print(f"| `{a['workload']}` | {a['sent_per_s']:.1f} | {b['sent_per_s']:.1f} | {a['sent_per_s'] / b['sent_per_s']:.2f}× "
              f"| {100 * a['same_as_attn']:.1f}% | {a['peak_rss_mb']:.0f} / {b['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
