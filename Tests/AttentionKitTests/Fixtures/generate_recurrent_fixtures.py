#!/usr/bin/env python3
"""Generates recurrent.json: PyTorch's nn.RNN (tanh, relu), nn.LSTM and nn.GRU (batch_first=True; 2 layers,
bidirectional and not; a padded batch run as a packed sequence), their weights (state-dict names), the input,
initial states, outputs, final states and the gradient of every parameter, the input and the initial states for the
loss sum(output * w_out) + sum(h_n * w_h) (+ sum(c_n * w_c)). Run with torch installed:
`python3 Tests/AttentionKitTests/Fixtures/generate_recurrent_fixtures.py`."""
import json
import os

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.manual_seed(0)
B, T, I, H = 3, 5, 4, 3


def as_json(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


cases = []
for name, make in [
    ("rnn_tanh", lambda bi: nn.RNN(I, H, num_layers=2, nonlinearity="tanh", batch_first=True, bidirectional=bi)),
    ("rnn_relu", lambda bi: nn.RNN(I, H, num_layers=2, nonlinearity="relu", batch_first=True, bidirectional=bi)),
    ("lstm", lambda bi: nn.LSTM(I, H, num_layers=2, batch_first=True, bidirectional=bi)),
    ("gru", lambda bi: nn.GRU(I, H, num_layers=2, batch_first=True, bidirectional=bi)),
]:
    for bidirectional in (False, True):
        for packed in (False, True):
            torch.manual_seed(len(cases) + 1)
            net = make(bidirectional).double()
            d = 2 if bidirectional else 1
            x = torch.randn(B, T, I, dtype=torch.double, requires_grad=True)
            h0 = torch.randn(2 * d, B, H, dtype=torch.double, requires_grad=True)
            c0 = torch.randn(2 * d, B, H, dtype=torch.double, requires_grad=True) if name == "lstm" else None
            lengths = [5, 2, 4] if packed else [T] * B
            inp = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False) if packed else x
            out, state = net(inp, (h0, c0) if c0 is not None else h0)
            if packed:
                out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
            hn, cn = (state if name == "lstm" else (state, None))
            w_out = torch.randn_like(out)
            w_h = torch.randn_like(hn)
            loss = (out * w_out).sum() + (hn * w_h).sum()
            w_c = None
            if cn is not None:
                w_c = torch.randn_like(cn)
                loss = loss + (cn * w_c).sum()
            loss.backward()
            case = {
                "cell": name, "bidirectional": bidirectional, "lengths": lengths if packed else None,
                "weights": {k: as_json(v) for k, v in net.state_dict().items()},
                "x": as_json(x), "h0": as_json(h0), "output": as_json(out), "h_n": as_json(hn),
                "w_out": as_json(w_out), "w_h": as_json(w_h), "loss": float(loss),
                "grads": {k: as_json(p.grad) for k, p in net.named_parameters()},
                "grad_x": as_json(x.grad), "grad_h0": as_json(h0.grad),
            }
            if c0 is not None:
                case.update({"c0": as_json(c0), "c_n": as_json(cn), "w_c": as_json(w_c), "grad_c0": as_json(c0.grad)})
            cases.append(case)


class RNNModel(nn.Module):
    """PyTorch's examples/word_language_model RNNModel with --tied (no dropout here): embedding → LSTM → linear
    sharing the embedding's matrix."""

    def __init__(self, vocabulary, width, layers):
        super().__init__()
        self.encoder = nn.Embedding(vocabulary, width)
        self.rnn = nn.LSTM(width, width, num_layers=layers, batch_first=True)
        self.decoder = nn.Linear(width, vocabulary)
        self.decoder.weight = self.encoder.weight

    def forward(self, ids):
        out, _ = self.rnn(self.encoder(ids))
        return self.decoder(out)


# The recurrent language model: logits, the next-token loss and every gradient (the tied matrix's gradient is the
# sum of its two uses), under our parameter names.
torch.manual_seed(100)
V, W = 7, 5
lm = RNNModel(V, W, 2).double()
ids = torch.randint(0, V, (2, 6))
targets = torch.randint(0, V, (2, 6))
logits = lm(ids)
lm_loss = nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
lm_loss.backward()
rename = {"encoder.weight": "embedding.weight", "decoder.bias": "head.bias"}
language_model = {
    "vocabulary": V, "width": W, "layers": 2, "ids": ids.tolist(), "targets": targets.tolist(),
    "weights": {rename.get(k, k): as_json(v) for k, v in lm.state_dict().items() if k != "decoder.weight"},
    "logits": as_json(logits), "loss": float(lm_loss),
    "grads": {rename.get(k, k): as_json(p.grad) for k, p in lm.named_parameters()},
}

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "recurrent.json"), "w") as f:
    json.dump({"torch": torch.__version__, "B": B, "T": T, "I": I, "H": H, "cases": cases, "language_model": language_model}, f)
print(f"wrote {len(cases)} cases")
