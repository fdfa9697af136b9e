#!/usr/bin/env python3
"""Issue 12's runner: each workload of attn-bench beside its PyTorch twin (Benchmarks/torch/bench_models.py, or
bench_core.py for cnn_train_step_b128), every run in its own process (so that peak RSS is the workload's), both on 2
threads, alternating which goes first, ROUNDS times; prints a Markdown table of medians, ratios (>1: AttentionKit is
faster) and goals, then the ViT training step's GFLOP/s as a fraction of the sgemm peak measured here.

Usage: python3 Benchmarks/run.py [--rounds N] [--steps S] [WORKLOAD…]   (S timed training steps per run, both sides)
       python3 Benchmarks/run.py --engines [--rounds N] [--translation-run RUN]   (issue 27: beside ONNX Runtime and
       CTranslate2, fp32 and int8; pip install onnx onnxruntime ctranslate2 too)
Needs: swift build -c release --product attn-bench; pip install torch tokenizers (in a virtual environment), and
../shared/data/multi30k for bpe_train_multi30k."""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOALS = {"vit_train_step_b128": 1.25, "cnn_train_step_b128": 1.25, "seq2seq_train_step_b64": 1.25, "textcls_train_step_b64": 1.25,
         "vit_infer_b1": 2.5, "vit_infer_b256": 1.25, "translate_beam5": 3.0, "bpe_train_multi30k": 1.0,
         "lm_train_step": 1.5, "lm_generate_b1": 2.0, "lm_generate_b8": 2.0, "lstm_train_step": 1.25,
         "gru_seq2seq_train_step": 1.25, "image_folder_epoch": 1.5}
HIGHER_IS_BETTER = {"img/s", "sent/s", "tok/s"}


STEPS = "15"  # timed steps of the training workloads on both sides (--steps)


IMAGE_FOLDER = os.path.join(ROOT, "runs", "bench-image-folder")


def make_image_folder(path=IMAGE_FOLDER, count=5000, classes=10):
    """image_folder_epoch's input, made once: COUNT JPEG photos (quality 90) of 320×240 in CLASSES class folders —
    CIFAR-10 training images upscaled (bicubic) when ../shared/data has them, smooth random pictures otherwise."""
    done = os.path.join(path, ".complete")
    if os.path.exists(done):
        return path
    import numpy as np
    from PIL import Image
    cifar = os.path.join(os.path.dirname(ROOT), "shared", "data", "cifar-10-batches-bin", "data_batch_1.bin")
    rng = np.random.default_rng(0)
    records = np.fromfile(cifar, dtype=np.uint8).reshape(-1, 3073) if os.path.exists(cifar) else None
    for i in range(count):
        folder = os.path.join(path, f"class{i % classes}")
        os.makedirs(folder, exist_ok=True)
        if records is not None:
            pixels = records[i % len(records), 1:].reshape(3, 32, 32).transpose(1, 2, 0)
        else:
            pixels = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).resize((320, 240), Image.BICUBIC).save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)
    open(done, "w").close()
    return path


def run(cmd):
    env = dict(os.environ, OMP_NUM_THREADS="2", BENCH_THREADS="2", RAYON_NUM_THREADS="1", BENCH_STEPS=STEPS)
    if "image_folder_epoch" in cmd:
        env["BENCH_IMAGE_FOLDER"] = make_image_folder()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode != 0 or not lines:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return lines[-1]


def ours(w):
    return run([os.path.join(ROOT, ".build/release/attn-bench"), w])


def theirs(w):
    script = "bench_core.py" if w == "cnn_train_step_b128" else "bench_models.py"
    return run([sys.executable, os.path.join(ROOT, "Benchmarks/torch", script), w])


ENGINE_WORKLOADS = ["vit_infer_b1", "vit_infer_b256", "textcls_infer_b1", "textcls_infer_b256"]


def onnx(w):
    return run([sys.executable, os.path.join(ROOT, "Benchmarks/onnx_twin.py"), w])


def engines(rounds):
    """Issue 27's table: each inference workload at fp32 and int8 beside ONNX Runtime (and PyTorch eager at fp32),
    alternating the order every round; goal ≥ 1.0× ONNX Runtime (and vit_infer_b1 ≥ 2.5× PyTorch)."""
    rows = []
    for base in ENGINE_WORKLOADS:
        for w in (base, base + "_int8"):
            sides = {"ours": [], "ort": []} | ({} if w.endswith("_int8") else {"torch": []})
            for r in range(rounds):
                order = list(sides) if r % 2 == 0 else list(reversed(sides))
                for side in order:
                    sides[side].append({"ours": ours, "ort": onnx, "torch": theirs}[side](w))
            unit = sides["ours"][0]["unit"]
            med = {k: statistics.median(x["median"] for x in v) for k, v in sides.items()}
            rss = {k: max(x.get("peak_rss_mb", -1) for x in v) for k, v in sides.items()}

            def ratio(other):
                return med["ours"] / med[other] if unit in HIGHER_IS_BETTER else med[other] / med["ours"]
            row = {"workload": w, "unit": unit, "attentionkit": med["ours"], "onnxruntime": med["ort"],
                   "ratio_onnxruntime": round(ratio("ort"), 3), "peak_rss_mb": rss["ours"], "onnxruntime_peak_rss_mb": rss["ort"]}
            if "torch" in med:
                row |= {"pytorch": med["torch"], "ratio_pytorch": round(ratio("torch"), 3)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    print()
    print("| workload | unit | AttentionKit | ONNX Runtime | ratio | PyTorch eager | ratio | goal | met | peak RSS (MB) AK / ORT |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        goal = "≥ 1.0× ORT" + (", ≥ 2.5× PyTorch" if r["workload"] == "vit_infer_b1" else "")
        met = r["ratio_onnxruntime"] >= 1.0 and (r["workload"] != "vit_infer_b1" or r.get("ratio_pytorch", 0) >= 2.5)
        torch_cells = f"{r['pytorch']:.4g} | {r['ratio_pytorch']:.2f}×" if "pytorch" in r else "— | —"
        print(f"| `{r['workload']}` | {r['unit']} | {r['attentionkit']:.4g} | {r['onnxruntime']:.4g} | {r['ratio_onnxruntime']:.2f}× "
              f"| {torch_cells} | {goal} | {'yes' if met else 'no'} | {r['peak_rss_mb']:.0f} / {r['onnxruntime_peak_rss_mb']:.0f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=15, help="timed steps per training workload, both sides (default 15)")
    p.add_argument("--engines", action="store_true",
                   help="issue 27's table instead: inference at fp32 and int8 beside ONNX Runtime (Benchmarks/onnx_twin.py)"
                        " and PyTorch eager; with --translation-run, also translation beside CTranslate2")
    p.add_argument("--translation-run", help="with --engines: a trained translation run for Benchmarks/ctranslate2_twin.py")
    p.add_argument("--source", default=os.path.join(os.path.dirname(ROOT), "shared/data/multi30k/val.de"),
                   help="with --translation-run: the sentences to translate (default: Multi30k val.de)")
    p.add_argument("workloads", nargs="*", default=list(GOALS))
    args = p.parse_args()
    if args.engines:
        engines(args.rounds)
        if args.translation_run:
            print()
            out = subprocess.run([sys.executable, os.path.join(ROOT, "Benchmarks/ctranslate2_twin.py"), args.translation_run,
                                  "--source", args.source, "--rounds", str(args.rounds)], cwd=ROOT)
            if out.returncode != 0:
                sys.exit("ctranslate2_twin.py failed")
        return
    global STEPS
    STEPS = str(args.steps)
    rows, extra = [], {}
    for w in args.workloads:
        a_runs, b_runs = [], []
        for r in range(args.rounds):
            pair = (ours, theirs) if r % 2 == 0 else (theirs, ours)
            for fn in pair:
                (a_runs if fn is ours else b_runs).append(fn(w))
        a = statistics.median(x["median"] for x in a_runs)
        b = statistics.median(x["median"] for x in b_runs)
        unit = a_runs[0].get("unit", "s")
        ratio = a / b if unit in HIGHER_IS_BETTER else b / a
        rss_a = max(x.get("peak_rss_mb", -1) for x in a_runs)
        rss_b = max(x.get("peak_rss_mb", -1) for x in b_runs)
        spread_a = (min(x["median"] for x in a_runs), max(x["median"] for x in a_runs))
        rows.append((w, unit, a, b, ratio, GOALS.get(w), rss_a, rss_b, spread_a))
        if "gflops" in a_runs[0]:
            extra[w] = statistics.median(x["gflops"] for x in a_runs)
        print(json.dumps({"workload": w, "unit": unit, "attentionkit": a, "pytorch": b, "ratio": round(ratio, 3),
                          "goal": GOALS.get(w), "peak_rss_mb": rss_a, "pytorch_peak_rss_mb": rss_b}), flush=True)
    print()
    print("| workload | unit | AttentionKit | PyTorch | ratio | goal | met | peak RSS (MB) AK / PyTorch |")
    print("|---|---|---|---|---|---|---|---|")
    for w, unit, a, b, ratio, goal, ra, rb, _ in rows:
        met = "—" if goal is None else ("yes" if ratio >= goal else "no")
        print(f"| `{w}` | {unit} | {a:.4g} | {b:.4g} | {ratio:.2f}× | {'' if goal is None else f'≥ {goal}×'} | {met} | {ra:.0f} / {rb:.0f} |")
    if extra:
        peak = max(x.get("cblas_gflops", 0) for x in [run([os.path.join(ROOT, ".build/release/attn-bench"), "matmul"])])
        for w, g in extra.items():
            print(f"\n`{w}`: {g:.1f} GFLOP/s ({3}× forward FLOPs), {100 * g / peak:.0f}% of the {peak:.0f} GFLOP/s sgemm peak "
                  "(2048² cblas_sgemm on 2 threads, measured now)")


if __name__ == "__main__":
    main()
