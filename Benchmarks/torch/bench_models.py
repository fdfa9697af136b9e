#!/usr/bin/env python3
"""PyTorch twins of attn-bench's model workloads (issue 12): the same models, settings, batch shapes and timing
rules, one JSON line each: {"workload", "unit", "median", "runs", "peak_rss_mb"}. CPU, fp32, 2 threads.
Usage: python3 Benchmarks/torch/bench_models.py WORKLOAD   (Benchmarks/run.py runs each in its own process)"""
import json
import math
import os
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
import torch  # noqa: E402
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from bench_core import STEPS, median_time as core_median_time, step_median, train_step_median  # noqa: E402  (this directory is on sys.path)

torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
torch.manual_seed(0)


from timing import emit_with_rss as emit, peak_rss_mb  # noqa: E402,F401


def median_time(fn, min_time=1.0, min_runs=5):
    """bench_core's timing rule with attn-bench's model-workload settings (≥ 1 s and ≥ 5 runs after a warm-up)."""
    return core_median_time(fn, min_time=min_time, min_runs=min_runs)


# ViT: 32×32, patch 4, d 128, 6 pre-norm layers, 4 heads, MLP 512, GELU, no dropout, CLS token, learned positions,
# LayerNorm eps 1e-6 (timm's), as AttentionKit's ViTConfig in attn-bench.
class Block(nn.Module):
    def __init__(self, d, heads, mlp):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, mlp), nn.GELU(), nn.Linear(mlp, d))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, d=128, depth=6, heads=4, mlp=512, patch=4, classes=10):
        super().__init__()
        self.patch = nn.Conv2d(3, d, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, (32 // patch) ** 2 + 1, d) * 0.02)
        self.blocks = nn.Sequential(*[Block(d, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(self.norm(self.blocks(x))[:, 0])


def vit_train_step_b128():
    model = ViT()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    x, y = torch.randn(128, 3, 32, 32), torch.arange(128) % 10

    emit(workload="vit_train_step_b128", unit="s", median=train_step_median(opt, lambda: F.cross_entropy(model(x), y)), runs=STEPS)


def infer(name, model, inputs, batch, unit):
    """An inference workload's line, as attn-bench's: batch 1 in ms (≥ 20 runs), larger batches in items per second."""
    with torch.inference_mode():
        if batch == 1:
            t, runs = median_time(lambda: model(inputs), min_runs=20)
            emit(workload=f"{name}_b1", unit="ms", median=t * 1000, runs=runs)
        else:
            t, runs = median_time(lambda: model(inputs))
            emit(workload=f"{name}_b{batch}", unit=unit, median=batch / t, runs=runs)


def vit_infer(batch):
    infer("vit_infer", ViT().eval(), torch.randn(batch, 3, 32, 32), batch, "img/s")


# Translation model: d 256, 3+3 post-norm layers, 8 heads, ff 512 (ReLU), dropout 0.1, vocabularies 8,000 / 6,000,
# sinusoidal positions, embeddings × √d, untied output; pad 0, BOS 1, EOS 2; padding and causal masks.
def sinusoids(length, d):
    pos = torch.arange(length).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe = torch.zeros(length, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return pe


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab=8000, tgt_vocab=6000, d=256, heads=8, layers=3, ff=512, dropout=0.1):
        super().__init__()
        self.d = d
        self.src_emb = nn.Embedding(src_vocab, d, padding_idx=0)
        self.tgt_emb = nn.Embedding(tgt_vocab, d, padding_idx=0)
        self.register_buffer("pe", sinusoids(64, d))
        self.drop = nn.Dropout(dropout)
        self.transformer = nn.Transformer(d, heads, layers, layers, ff, dropout, batch_first=True, norm_first=False)
        self.out = nn.Linear(d, tgt_vocab)

    def embed(self, emb, ids):
        return self.drop(emb(ids) * math.sqrt(self.d) + self.pe[: ids.shape[1]])

    def encode(self, src):
        mask = src == 0
        return self.transformer.encoder(self.embed(self.src_emb, src), src_key_padding_mask=mask), mask

    def decode(self, tin, memory, memory_mask):
        causal = nn.Transformer.generate_square_subsequent_mask(tin.shape[1], dtype=torch.bool)
        h = self.transformer.decoder(self.embed(self.tgt_emb, tin), memory, tgt_mask=causal, tgt_key_padding_mask=tin == 0,
                                     memory_key_padding_mask=memory_mask)
        return self.out(h)

    def forward(self, src, tin):
        memory, mask = self.encode(src)
        return self.decode(tin, memory, mask)


def padded_rows(n, length, vocab, gen):
    rows = torch.zeros(n, length, dtype=torch.long)
    for i in range(n):
        l = length // 2 + int(torch.randint(0, length // 2 + 1, (1,), generator=gen))
        rows[i, :l] = torch.randint(3, vocab, (l,), generator=gen)
    return rows


def seq2seq_train_step_b64():
    gen = torch.Generator().manual_seed(8)
    model = Seq2Seq()
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    src, tgt = padded_rows(64, 24, 8000, gen), padded_rows(64, 25, 6000, gen)
    tin, tout = tgt[:, :-1], tgt[:, 1:]

    median = train_step_median(opt, lambda: F.cross_entropy(model(src, tin).reshape(-1, 6000), tout.reshape(-1), ignore_index=0))
    emit(workload="seq2seq_train_step_b64", unit="s", median=median, runs=STEPS)


class TextClassifier(nn.Module):
    # encoder d 128, 2 post-norm layers, 4 heads, ff 256 (ReLU), dropout 0.1, vocab 10,000, masked mean pool, 6 classes
    def __init__(self, vocab=10000, d=128, heads=4, layers=2, ff=256, dropout=0.1, classes=6):
        super().__init__()
        self.d = d
        self.emb = nn.Embedding(vocab, d, padding_idx=0)
        self.register_buffer("pe", sinusoids(32, d))
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout, batch_first=True, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, ids):
        pad = ids == 0
        h = self.encoder(self.drop(self.emb(ids) * math.sqrt(self.d) + self.pe[: ids.shape[1]]), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        return self.head((h * keep).sum(1) / keep.sum(1).clamp(min=1))


def textcls_infer(batch):
    ids = padded_rows(batch, 32, 10000, torch.Generator().manual_seed(9))
    infer("textcls_infer", TextClassifier().eval(), ids, batch, "sent/s")


def textcls_train_step_b64():
    gen = torch.Generator().manual_seed(9)
    model = TextClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    ids, y = padded_rows(64, 32, 10000, gen), torch.arange(64) % 6

    emit(workload="textcls_train_step_b64", unit="s", median=train_step_median(opt, lambda: F.cross_entropy(model(ids), y)), runs=STEPS)


@torch.inference_mode()
def beam_search(model, src, k=5, max_len=24, alpha=0.6, bos=1, eos=2, pad=0):
    """The beam search PyTorch users write over nn.Transformer: encode once, then at every step run the decoder over
    the whole prefix of every beam (no cache), top-k over beam × vocabulary, GNMT length penalty at the end."""
    b = src.shape[0]
    memory, mask = model.encode(src)
    memory, mask = memory.repeat_interleave(k, 0), mask.repeat_interleave(k, 0)
    prefix = torch.full((b * k, 1), bos, dtype=torch.long)
    scores = torch.full((b, k), float("-inf"))
    scores[:, 0] = 0
    done = torch.zeros(b * k, dtype=torch.bool)
    for _ in range(max_len):
        logp = F.log_softmax(model.decode(prefix, memory, mask)[:, -1], dim=-1)      # [B·k, V]
        v = logp.shape[-1]
        logp[done] = float("-inf")
        logp[done, pad] = 0                                                       # finished beams only pad
        total = (scores.reshape(-1, 1) + logp).reshape(b, k * v)
        scores, idx = total.topk(k, dim=1)
        beam, token = idx // v, idx % v
        rows = (torch.arange(b).unsqueeze(1) * k + beam).reshape(-1)
        prefix = torch.cat([prefix[rows], token.reshape(-1, 1)], dim=1)
        done = done[rows] | (token.reshape(-1) == eos)
        if bool(done.all()):
            break
    lengths = ((prefix[:, 1:] != pad) & (prefix[:, 1:] != eos)).sum(1).float().reshape(b, k) + 1
    best = (scores / ((5 + lengths) / 6) ** alpha).argmax(1)
    return prefix.reshape(b, k, -1)[torch.arange(b), best]


def translate_beam5():
    gen = torch.Generator().manual_seed(10)
    model = Seq2Seq().eval()
    src = torch.cat([torch.randint(3, 8000, (64, 23), generator=gen), torch.full((64, 1), 2)], dim=1)
    t = step_median(lambda: beam_search(model, src), warmup=1, runs=3)
    emit(workload="translate_beam5", unit="sent/s", median=64 / t, runs=3)


def bpe_train_multi30k():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    lines = []
    for name in ("train.en", "train.de"):
        with open(os.path.join(os.path.dirname(root), "shared/data/multi30k", name), encoding="utf-8") as fh:
            lines += [l for l in fh.read().split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    t0 = time.perf_counter()
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=8000, special_tokens=["[PAD]", "[BOS]", "[EOS]", "[UNK]"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    emit(workload="bpe_train_multi30k", unit="s", median=time.perf_counter() - t0, runs=1, vocabulary=tok.get_vocab_size(),
         threads=os.environ["RAYON_NUM_THREADS"])


# The language model: nanoGPT's CPU character model (vocabulary 65, block 64, 4 pre-norm layers, 4 heads, width 128,
# GELU MLP of 512, biases, no dropout, tied head), written here as PyTorch users write it (causal SDPA).
class GPTBlock(nn.Module):
    def __init__(self, d=128, heads=4):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in self.qkv(self.ln1(x)).split(d, dim=2))
        x = x + self.proj(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class CharGPT(nn.Module):
    def __init__(self, vocab=65, block=64, d=128, layers=4, heads=4):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.blocks = nn.ModuleList(GPTBlock(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for blk in self.blocks:
            x = blk(x)
        return self.ln(x) @ self.wte.weight.T


def lm_train_step():
    gen = torch.Generator().manual_seed(12)
    model = CharGPT()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.99))
    rows = torch.randint(0, 65, (12, 65), generator=gen)
    x, y = rows[:, :-1], rows[:, 1:]

    def step():
        loss = F.cross_entropy(model(x).reshape(-1, 65), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    emit(workload="lm_train_step", unit="s", median=step_median(step), runs=STEPS)


@torch.inference_mode()
def lm_generate(batch):
    """Hugging Face's GPT2LMHeadModel of the same size (randomly initialised, nothing downloaded), generate() with its
    key/value cache, greedy, 256 new tokens after a one-token prompt."""
    from transformers import GPT2Config, GPT2LMHeadModel
    import transformers
    transformers.logging.set_verbosity_error()
    model = GPT2LMHeadModel(GPT2Config(vocab_size=65, n_positions=512, n_embd=128, n_layer=4, n_head=4, resid_pdrop=0, embd_pdrop=0,
                                       attn_pdrop=0)).eval()
    prompt = (torch.arange(batch) % 65).unsqueeze(1)
    run = lambda: model.generate(prompt, max_new_tokens=256, min_new_tokens=256, do_sample=False, use_cache=True,
                                 pad_token_id=0, eos_token_id=None, attention_mask=torch.ones_like(prompt))
    t, n = median_time(run, min_time=1.0, min_runs=3)
    emit(workload=f"lm_generate_b{batch}", unit="tok/s", median=batch * 256 / t, runs=n)


def lstm_train_step():
    """nn.LSTM(256, 256, num_layers=2, batch_first=True) over 64 × 32 steps, Linear(256, 32), cross-entropy, Adam."""
    gen = torch.Generator().manual_seed(14)
    lstm, head = nn.LSTM(256, 256, num_layers=2, batch_first=True), nn.Linear(256, 32)
    opt = torch.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=1e-3)
    x = torch.randn(64, 32, 256, generator=gen)
    targets = torch.randint(0, 32, (64 * 32,), generator=gen)

    def step():
        y, _ = lstm(x)
        loss = F.cross_entropy(head(y).reshape(-1, 32), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    emit(workload="lstm_train_step", unit="s", median=step_median(step), runs=STEPS)


class RecurrentTranslator(nn.Module):
    """The twin of AttentionKit's RecurrentTranslator as a PyTorch user writes it (the Bahdanau/Luong tutorials):
    a bidirectional GRU encoder, a decoder started from tanh(W [h_fwd; h_bwd]), then per step a GRU over [embedding;
    previous attentional vector], additive attention v^T tanh(W q + U k) over the encoder outputs, h~ = tanh(W_c
    [s; context]), logits from h~; dropout 0.2 on embeddings and before the output layer."""

    def __init__(self, src_vocab, tgt_vocab, e=256, h=256, p=0.2):
        super().__init__()
        self.src, self.tgt = nn.Embedding(src_vocab, e), nn.Embedding(tgt_vocab, e)
        self.encoder = nn.GRU(e, h, batch_first=True, bidirectional=True)
        self.decoder = nn.GRU(e + h, h, batch_first=True)
        self.bridge = nn.Linear(2 * h, h)
        self.query, self.key, self.energy = nn.Linear(h, h, bias=False), nn.Linear(2 * h, h), nn.Linear(h, 1, bias=False)
        self.combine, self.out = nn.Linear(3 * h, h, bias=False), nn.Linear(h, tgt_vocab)
        self.drop, self.h = nn.Dropout(p), h

    def forward(self, source, target_in):
        memory, final = self.encoder(self.drop(self.src(source)))          # [B, S, 2H]
        keys = self.key(memory)                                              # [B, S, H]
        state = torch.tanh(self.bridge(torch.cat([final[-2], final[-1]], 1))).unsqueeze(0)
        feed = memory.new_zeros(source.shape[0], self.h)
        emb = self.tgt(target_in)
        logits = []
        for t in range(target_in.shape[1]):
            x = self.drop(torch.cat([emb[:, t:t + 1], feed.unsqueeze(1)], 2))
            out, state = self.decoder(x, state)                              # [B, 1, H]
            scores = self.energy(torch.tanh(self.query(out) + keys)).squeeze(2)   # [B, S]
            context = torch.bmm(F.softmax(scores, 1).unsqueeze(1), memory)       # [B, 1, 2H]
            feed = torch.tanh(self.combine(torch.cat([out, context], 2))).squeeze(1)
            logits.append(self.out(self.drop(feed)))
        return torch.stack(logits, 1)


def gru_seq2seq_train_step():
    """RecurrentTranslator (GRU, additive attention, input feeding, 256 wide) on 64 pairs of 24 + 24 tokens, Adam."""
    gen = torch.Generator().manual_seed(15)
    model = RecurrentTranslator(8000, 6000)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    source = torch.randint(3, 8000, (64, 24), generator=gen)
    target = torch.randint(3, 6000, (64, 25), generator=gen)

    def step():
        loss = F.cross_entropy(model(source, target[:, :-1]).reshape(-1, 6000), target[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    emit(workload="gru_seq2seq_train_step", unit="s", median=step_median(step), runs=STEPS)


def image_folder_epoch():
    """torchvision's ImageFolder + DataLoader (2 workers, batches of 64, shuffled) over BENCH_IMAGE_FOLDER for one epoch:
    PIL decode, Resize(224) + CenterCrop(224), RandomCrop(224, padding=28), RandomHorizontalFlip, ToTensor, Normalize
    (ImageNet's) — the work attn-bench's image_folder_epoch does, timed from the dataset's creation to the last batch."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms as T
    tf = T.Compose([T.Resize(224), T.CenterCrop(224), T.RandomCrop(224, padding=28), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    start = time.perf_counter()
    ds = datasets.ImageFolder(os.environ["BENCH_IMAGE_FOLDER"], tf)
    loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=2)
    n = 0
    for x, _ in loader:
        n += x.shape[0]
    t = time.perf_counter() - start
    emit(workload="image_folder_epoch", unit="img/s", median=n / t, runs=1, images=n)


WORKLOADS = {"vit_train_step_b128": vit_train_step_b128, "vit_infer_b1": lambda: vit_infer(1),
             "vit_infer_b256": lambda: vit_infer(256), "seq2seq_train_step_b64": seq2seq_train_step_b64,
             "textcls_train_step_b64": textcls_train_step_b64, "translate_beam5": translate_beam5,
             "textcls_infer_b1": lambda: textcls_infer(1), "textcls_infer_b256": lambda: textcls_infer(256),
             "bpe_train_multi30k": bpe_train_multi30k, "lm_train_step": lm_train_step,
             "lm_generate_b1": lambda: lm_generate(1), "lm_generate_b8": lambda: lm_generate(8), "lstm_train_step": lstm_train_step,
             "gru_seq2seq_train_step": gru_seq2seq_train_step, "image_folder_epoch": image_folder_epoch}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(WORKLOADS):
        if name not in WORKLOADS:
            sys.exit(f"bench_models.py: unknown workload '{name}' (known: {', '.join(WORKLOADS)})")
        WORKLOADS[name]()
