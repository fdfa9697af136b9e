"""The FastAPI + PyTorch twin of `attn serve` for the load test (Benchmarks/serve/load.sh): the same trained runs
(weights read from their best.safetensors into torch.nn.Transformer / TransformerEncoder, the tokenizers from their
tokenizer.json with Hugging Face `tokenizers`), the same endpoints and JSON shapes for /v1/translate and /v1/classify,
served by uvicorn the way people deploy a PyTorch model: one worker, inference in FastAPI's thread pool, torch's
intra-op threads on every core. Beam search is the one PyTorch users write over nn.Transformer (no key-value cache),
with our length rule (1.5 × source + 10) and GNMT length penalty 0.6.

Usage: python twin.py --translation RUN --classifier RUN --port 8767  (pip install torch fastapi uvicorn tokenizers)
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import uvicorn
from fastapi import FastAPI, Request
from safetensors.torch import load_file
from tokenizers import Tokenizer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch"))
from bench_models import beam_search, sinusoids  # noqa: E402  (the twins' nn.Transformer beam search)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from runconfig import run_config  # noqa: E402  (config.json, keys snake_case)


def attention_names(ours, theirs):
    return {f"{ours}.inProjection.weight": f"{theirs}.in_proj_weight", f"{ours}.inProjection.bias": f"{theirs}.in_proj_bias",
            f"{ours}.outProjection.weight": f"{theirs}.out_proj.weight", f"{ours}.outProjection.bias": f"{theirs}.out_proj.bias"}


class Translator(nn.Module):
    def __init__(self, run):
        super().__init__()
        c = run_config(run)["model"]
        self.c = c
        d = c["d_model"]
        self.src_emb = nn.Embedding(c["source_vocabulary"], d)
        self.tgt_emb = nn.Embedding(c["target_vocabulary"], d)
        self.register_buffer("pe", sinusoids(c["max_length"], d))
        self.transformer = nn.Transformer(d, c["heads"], c["encoder_layers"], c["decoder_layers"], c["feed_forward"], 0.0,
                                          activation=c["activation"], batch_first=True, norm_first=c["norm_first"])
        self.out = nn.Linear(d, c["target_vocabulary"])
        w = load_file(os.path.join(run, "best.safetensors"))
        names = {"sourceEmbedding.embedding.weight": "src_emb.weight", "targetEmbedding.embedding.weight": "tgt_emb.weight",
                 "outputProjection.weight": "out.weight", "outputProjection.bias": "out.bias",
                 "encoder.norm.weight": "transformer.encoder.norm.weight", "encoder.norm.bias": "transformer.encoder.norm.bias",
                 "decoder.norm.weight": "transformer.decoder.norm.weight", "decoder.norm.bias": "transformer.decoder.norm.bias"}
        for side, n in (("encoder", c["encoder_layers"]), ("decoder", c["decoder_layers"])):
            for i in range(n):
                p, q = f"{side}.layers.{i}", f"transformer.{side}.layers.{i}"
                names.update(attention_names(p + ".selfAttention", q + ".self_attn"))
                if side == "decoder":
                    names.update(attention_names(p + ".crossAttention", q + ".multihead_attn"))
                for m in ("linear1", "linear2", "norm1", "norm2", "norm3"):
                    for t in ("weight", "bias"):
                        if f"{p}.{m}.{t}" in w:
                            names[f"{p}.{m}.{t}"] = f"{q}.{m}.{t}"
        state = {names[k]: v for k, v in w.items() if k in names}
        if "out.weight" not in state:
            state["out.weight"] = state["tgt_emb.weight"]
        missing, unexpected = self.load_state_dict(state, strict=False)
        assert not unexpected and set(missing) <= {"pe"}, (missing, unexpected)
        self.eval()

    def embed(self, emb, ids):
        scale = math.sqrt(self.c["d_model"]) if self.c["scale_embeddings"] else 1.0
        return emb(ids) * scale + self.pe[: ids.shape[1]]

    def encode(self, src):
        mask = src == self.c["pad_id"]
        return self.transformer.encoder(self.embed(self.src_emb, src), src_key_padding_mask=mask), mask

    def decode(self, tin, memory, memory_mask):
        causal = nn.Transformer.generate_square_subsequent_mask(tin.shape[1], dtype=torch.bool)
        return self.out(self.transformer.decoder(self.embed(self.tgt_emb, tin), memory, tgt_mask=causal,
                                                 memory_key_padding_mask=memory_mask))

    def translate(self, ids, k=5):
        """The best hypothesis of beam search with our length rule: at most 1.5 × the source + 10 tokens."""
        c = self.c
        max_len = min(c["max_length"] - 1, len(ids) * 3 // 2 + 10)
        out = beam_search(self, torch.tensor([ids]), k=k, max_len=max_len, bos=c["bos_id"], eos=c["eos_id"], pad=c["pad_id"])
        return [t for t in out[0, 1:].tolist() if t not in (c["eos_id"], c["pad_id"])]


class Classifier(nn.Module):
    """Our TextClassifier: embeddings (×√d) + sinusoids, a pre- or post-norm encoder, masked mean pooling, a head."""

    def __init__(self, run):
        super().__init__()
        c = run_config(run)["model"]
        c = c.get("transformer", c)
        self.c = c
        d = c["d_model"]
        w = load_file(os.path.join(run, "best.safetensors"))
        self.emb = nn.Embedding(w["embedding.embedding.weight"].shape[0], d)
        self.register_buffer("pe", sinusoids(c.get("max_length", 512), d))
        layer = nn.TransformerEncoderLayer(d, c["heads"], c["feed_forward"], 0.0, activation=c.get("activation", "relu"),
                                           batch_first=True, norm_first=c.get("norm_first", True))
        final = nn.LayerNorm(d) if "encoder.norm.weight" in w else None
        self.encoder = nn.TransformerEncoder(layer, c["layers"], norm=final, enable_nested_tensor=False)
        self.head = nn.Linear(d, w["head.weight"].shape[0])
        names = {"embedding.embedding.weight": "emb.weight", "head.weight": "head.weight", "head.bias": "head.bias",
                 "encoder.norm.weight": "encoder.norm.weight", "encoder.norm.bias": "encoder.norm.bias"}
        for i in range(c["layers"]):
            p, q = f"encoder.layers.{i}", f"encoder.layers.{i}"
            names.update(attention_names(p + ".selfAttention", q + ".self_attn"))
            for m in ("linear1", "linear2", "norm1", "norm2"):
                for t in ("weight", "bias"):
                    names[f"{p}.{m}.{t}"] = f"{q}.{m}.{t}"
        state = {names[k]: v for k, v in w.items() if k in names}
        self.load_state_dict(state, strict=False)
        self.eval()

    @torch.inference_mode()
    def forward(self, ids):
        pad = ids == 0
        h = self.encoder(self.emb(ids) * math.sqrt(self.c["d_model"]) + self.pe[: ids.shape[1]], src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        return self.head((h * keep).sum(1) / keep.sum(1).clamp(min=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--translation", required=True)
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--port", type=int, default=8767)
    a = ap.parse_args()
    translator = Translator(a.translation)
    src_tok = Tokenizer.from_file(os.path.join(a.translation, "source-tokenizer.json"))
    tgt_tok = Tokenizer.from_file(os.path.join(a.translation, "target-tokenizer.json"))
    classifier = Classifier(a.classifier)
    cls_tok = Tokenizer.from_file(os.path.join(a.classifier, "tokenizer.json"))
    labels = json.load(open(os.path.join(a.classifier, "labels.json")))
    app = FastAPI()

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/v1/translate")
    async def translate(request: Request):
        body = await request.json()
        text, beam = body["text"], int(body.get("beam", 5))

        def work():
            ids = src_tok.encode(text, add_special_tokens=False).ids + [translator.c["eos_id"]]
            tokens = translator.translate(ids, k=beam)
            return {"model": "translation", "source": text, "translation": tgt_tok.decode(tokens)}

        from starlette.concurrency import run_in_threadpool
        return await run_in_threadpool(work)

    @app.post("/v1/classify")
    async def classify(request: Request):
        body = await request.json()
        text = body["text"]

        def work():
            ids = torch.tensor([cls_tok.encode(text).ids or [0]])
            p = F.softmax(classifier(ids), dim=-1)[0]
            k = int(p.argmax())
            return {"model": "classifier", "text": text, "label": labels[k], "probability": float(p[k])}

        from starlette.concurrency import run_in_threadpool
        return await run_in_threadpool(work)

    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
